"""Image encoders: registry backbone (CLS / mean-patch pooling) and MONAI ResNet-50 in torchvision's layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from raddino_monai.models import CheckpointError, create_backbone
from raddino_monai.models.convirt import (
    BackboneImageEncoder,
    ResNet50ImageEncoder,
    build_image_encoder,
    list_image_encoders,
)


@pytest.mark.parametrize(("pooling", "expected"), [("cls", "cls"), ("mean", "mean")])
def test_backbone_pooling_matches_manual(pooling: str, expected: str) -> None:
    backbone = create_backbone("tiny_vit_p16").eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        got = BackboneImageEncoder(backbone, pooling)(images)
        hidden = backbone.model(pixel_values=images).last_hidden_state  # (B, 1 + N, D), final layer norm applied
    manual = hidden[:, 0] if expected == "cls" else hidden[:, 1:].mean(dim=1)
    torch.testing.assert_close(got, manual, rtol=1e-5, atol=1e-5)
    assert got.shape == (2, 192)


def test_build_registry_backbone() -> None:
    encoder = build_image_encoder("tiny_vit_p14", pooling="mean", image_size=56)
    assert isinstance(encoder, BackboneImageEncoder) and encoder.out_dim == 192
    assert encoder.backbone.config.image_size == 56
    assert {"raddino_vitb14", "resnet50"} <= set(list_image_encoders())


def test_resnet50_is_torchvision_resnet50_without_fc() -> None:
    encoder = ResNet50ImageEncoder()
    # torchvision resnet50: 25,557,032 parameters, of which fc = 2048 * 1000 + 1000
    assert sum(p.numel() for p in encoder.parameters()) == 25_557_032 - 2_049_000
    assert encoder.resnet.conv1.stride == (2, 2) and encoder.resnet.layer1[0].downsample[0].bias is None
    with torch.no_grad():
        assert encoder.eval()(torch.rand(2, 3, 64, 64)).shape == (2, 2048)


def test_resnet50_weights_round_trip(tmp_path: Path) -> None:
    source = ResNet50ImageEncoder()
    state = {f"module.{k}": v.clone() for k, v in source.resnet.state_dict().items()}
    state["module.fc.weight"], state["module.fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)  # ignored
    torch.save(state, tmp_path / "resnet50.pth")
    target = ResNet50ImageEncoder()
    target.load_weights(tmp_path / "resnet50.pth", prefix="module.")
    for key, value in source.resnet.state_dict().items():
        torch.testing.assert_close(target.resnet.state_dict()[key], value)


def test_resnet50_rejects_wrong_weights(tmp_path: Path) -> None:
    save_file({"conv1.weight": torch.zeros(64, 1, 7, 7)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError, match="missing .* with other shapes"):
        ResNet50ImageEncoder().load_weights(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="not a ResNet-50 state dict"):
        build_image_encoder("resnet50", weights=tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="no architecture overrides"):
        build_image_encoder("resnet50", image_size=224)


@pytest.mark.parametrize(("kwargs", "match"), [({"name": "vit_huge"}, "valid values are"),
                                               ({"name": "tiny_vit_p16", "pooling": "max"}, "valid values are")])
def test_bad_names(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_image_encoder(**kwargs)

"""The one pooling vocabulary: shapes and contents of every pooling, one forward for the last-block poolings."""

from __future__ import annotations

import pytest
import torch

from raddino_monai.inference.pooling import POOLINGS, VECTOR_POOLINGS, check_poolings, pool_features, pooled_dim
from raddino_monai.models import create_backbone


@pytest.fixture(scope="module")
def backbone() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_backbone("tiny_vit_p14").eval()


def test_every_pooling_against_the_backbone_outputs(backbone: torch.nn.Module) -> None:
    x = torch.rand(2, 3, 42, 42)
    with torch.no_grad():
        out = pool_features(backbone, x, list(POOLINGS), n_last_blocks=3)
        feats = backbone.forward_features(x)
        hidden = backbone.model(pixel_values=x, output_hidden_states=True).hidden_states
    d = backbone.embed_dim
    assert torch.equal(out["cls"], feats["cls_token"]) and out["cls"].shape == (2, d)
    assert torch.equal(out["mean"], feats["patch_tokens"].mean(1))
    assert out["patch"].shape == (2, d, 3, 3) and torch.equal(out["patch"], feats["patch_grid"])
    assert torch.equal(out["cls_patchmean"], torch.cat([out["cls"], out["mean"]], 1))
    expected = torch.cat([backbone.model.layernorm(h[:, 0]) for h in hidden[-3:]], 1)  # [DV2] create_linear_input
    assert torch.equal(out["last_n_cls"], expected) and out["last_n_cls"].shape == (2, 3 * d)
    for name in VECTOR_POOLINGS:
        assert out[name].shape[1] == pooled_dim(d, name, 3)


def test_last_block_poolings_share_one_forward(backbone: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = backbone.forward_features
    monkeypatch.setattr(backbone, "forward_features", lambda x: calls.append(1) or original(x))
    monkeypatch.setattr(backbone, "last_cls_tokens", lambda x, n: pytest.fail("not requested"))
    with torch.no_grad():
        pool_features(backbone, torch.rand(1, 3, 28, 28), ["cls", "mean", "patch", "cls_patchmean"])
    assert calls == [1]


def test_names_are_checked() -> None:
    assert check_poolings("cls") == ["cls"] and "patch" not in VECTOR_POOLINGS
    with pytest.raises(ValueError, match="valid values"):
        check_poolings(["gem"])
    with pytest.raises(ValueError, match="valid values"):
        check_poolings([])
    with pytest.raises(ValueError, match=r"Unknown pooling\(s\) \['patch'\]"):
        pooled_dim(768, "patch")

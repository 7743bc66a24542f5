from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.evaluation.heads import (
    HEAD_NUM_INPUTS,
    ECAMPUpsampleHead,
    SEGMENTATION_HEADS,
    MultiLevelNeck,
    SimpleFeaturePyramid,
    UPerNetHead,
    create_head,
)

SMALL = {"linear": {}, "vitdet": {"pyramid_channels": 8, "decoder_channels": 8},
         "upernet": {"neck_channels": 8, "channels": 8}, "ecamp": {"features": (8, 8, 8, 8)}}
SCALE = {"linear": 1, "vitdet": 4, "upernet": 4, "ecamp": 16}


@pytest.mark.parametrize("name", sorted(SEGMENTATION_HEADS))
@pytest.mark.parametrize("hw", [(4, 4), (6, 5)])
def test_head_output_shapes(name: str, hw: tuple[int, int]) -> None:
    head = create_head(name, 16, 3, **SMALL[name])
    feats = [torch.randn(2, 16, *hw) for _ in range(HEAD_NUM_INPUTS[name])]
    out = head(feats)
    assert out.shape == (2, 3, hw[0] * SCALE[name], hw[1] * SCALE[name])
    out.sum().backward()
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)


def test_simple_feature_pyramid_follows_detectron2() -> None:
    sfp = SimpleFeaturePyramid(16, 8)
    shapes = [tuple(o.shape) for o in sfp(torch.randn(1, 16, 6, 6))]
    assert shapes == [(1, 8, 24, 24), (1, 8, 12, 12), (1, 8, 6, 6), (1, 8, 3, 3)]
    up4 = sfp.stages[0][0]
    assert [type(m).__name__ for m in up4] == ["ConvTranspose2d", "LayerNorm2d", "GELU", "ConvTranspose2d"]
    assert up4[0].out_channels == 8 and up4[3].out_channels == 4  # D/2 then D/4
    assert isinstance(sfp.stages[3][0], torch.nn.MaxPool2d)


def test_multilevel_neck_scales() -> None:
    neck = MultiLevelNeck([8] * 4, 4, scales=(4, 2, 1, 0.5))
    outs = neck([torch.randn(1, 8, 8, 8)] * 4)
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4]


def test_upernet_ppm_scales_and_errors() -> None:
    head = UPerNetHead(8, 2, neck_channels=4, channels=4)
    assert [b[0].output_size for b in head.decode.ppm.branches] == [1, 2, 3, 6]
    with pytest.raises(ValueError, match="4 feature maps"):
        head.neck([torch.randn(1, 8, 4, 4)] * 3)
    with pytest.raises(ValueError, match="valid names"):
        create_head("mask2former", 8, 2)
    with pytest.raises(ValueError, match="valid values"):
        SimpleFeaturePyramid(8, 4, scale_factors=(3.0,))


def test_ecamp_head_follows_segvit() -> None:
    # [ECAMP] models_vit.py: seg_head Linear(D, D * r * r), "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", then 4 x
    # (Conv3x3, BN, ReLU, Upsample x2 bilinear align_corners) with 512/256/128/64 channels and a Conv3x3 output
    head = ECAMPUpsampleHead(4, 1)
    assert [s[0].out_channels for s in head.stages] == [512, 256, 128, 64] and head.final_out.out_channels == 1
    assert [type(m).__name__ for m in head.stages[0]] == ["Conv2d", "BatchNorm2d", "ReLU", "Upsample"]
    assert head.stages[0][3].align_corners and head.stages[0][3].mode == "bilinear"
    r2 = ECAMPUpsampleHead(4, 1, features=(2, 2, 2, 2), token_upsample=2)
    x = torch.randn(1, 4, 2, 3)
    tokens = r2.seg_head(x.flatten(2).transpose(1, 2))[0].detach().numpy()  # (h*w, p1*p2*c), c fastest
    captured = []
    r2.stages.register_forward_hook(lambda m, i, o: captured.append(i[0]))
    assert r2([x]).shape == (1, 1, 2 * 2 * 16, 3 * 2 * 16)
    grid = captured[0][0].detach().numpy()  # (c, h*p1, w*p2)
    for n in range(6):
        hh, ww = divmod(n, 3)
        for p1 in range(2):
            for p2 in range(2):
                np.testing.assert_allclose(grid[:, hh * 2 + p1, ww * 2 + p2], tokens[n, (p1 * 2 + p2) * 4:][:4],
                                           rtol=1e-6)
    with pytest.raises(ValueError, match="4 stage widths"):
        ECAMPUpsampleHead(4, 1, features=(8, 8))

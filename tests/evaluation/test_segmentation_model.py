from __future__ import annotations

import pytest
import torch

from raddino_monai.evaluation.segmentation_model import FrozenSegmentationModel, default_layer_indices

SMALL = {"linear": {}, "vitdet": {"pyramid_channels": 8, "decoder_channels": 8},
         "upernet": {"neck_channels": 8, "channels": 8}}


@pytest.mark.parametrize("head", sorted(SMALL))
def test_no_gradient_reaches_backbone(tiny_backbone: torch.nn.Module, head: str) -> None:
    model = FrozenSegmentationModel(tiny_backbone, head, 3, head_kwargs=SMALL[head]).train()
    before = {k: v.clone() for k, v in tiny_backbone.state_dict().items()}
    out = model(torch.rand(2, 3, 42, 56))
    assert out.shape == (2, 3, 42, 56)
    out.square().mean().backward()
    assert all(p.grad is None and not p.requires_grad for p in tiny_backbone.parameters())
    assert any(p.grad is not None for p in model.head.parameters())
    torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    assert not tiny_backbone.training
    for k, v in tiny_backbone.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_layer_indices(tiny_backbone: torch.nn.Module) -> None:
    assert default_layer_indices(12, 4) == (4, 6, 9, 12)
    upernet = FrozenSegmentationModel(tiny_backbone, "upernet", 2, head_kwargs=SMALL["upernet"])
    assert upernet.layer_indices == (2, 3, 5, 6)
    assert FrozenSegmentationModel(tiny_backbone, "linear", 2).layer_indices == (6,)
    with pytest.raises(ValueError, match="takes 4 feature maps"):
        FrozenSegmentationModel(tiny_backbone, "upernet", 2, layer_indices=(6,))

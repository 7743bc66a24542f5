"""DINOHead structure and maths ([DV2] ``layers/dino_head.py``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from raddino_monai.models.dino_head import DINOHead

DIMS = {"in_dim": 24, "out_dim": 40, "hidden_dim": 32, "bottleneck_dim": 8}


def test_structure_and_init() -> None:
    head = DINOHead(in_dim=64, out_dim=50, hidden_dim=2048, bottleneck_dim=16)
    assert [type(m).__name__ for m in head.mlp] == ["Linear", "GELU", "Linear", "GELU", "Linear"]
    assert list(head.state_dict())[-2:] == [f"last_layer.parametrizations.weight.original{i}" for i in (0, 1)]
    g = head.last_layer.parametrizations.weight.original0
    assert g.shape == (50, 1) and torch.all(g == 1) and g.requires_grad
    assert head.last_layer.bias is None
    assert float(head.mlp[2].weight.detach().std()) == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(head.mlp[0].bias) == 0


def test_forward_is_mlp_l2norm_weightnormed_linear() -> None:
    head = DINOHead(**DIMS).eval()
    with torch.no_grad():  # g away from its init, so the magnitude enters the check
        head.last_layer.parametrizations.weight.original0.uniform_(0.5, 2.0)
    x = torch.randn(5, DIMS["in_dim"])
    z = head.mlp[4](F.gelu(head.mlp[2](F.gelu(head.mlp[0](x)))))
    z = z / z.norm(dim=-1, keepdim=True)
    g = head.last_layer.parametrizations.weight.original0
    v = head.last_layer.parametrizations.weight.original1
    expected = z @ (g * v / v.norm(dim=1, keepdim=True)).t()
    torch.testing.assert_close(head(x), expected)
    assert head(x).shape == (5, DIMS["out_dim"])


def test_size_errors() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        DINOHead(in_dim=0)


def test_old_import_path_of_the_head_io_warns() -> None:
    import raddino_monai.models.weights.head_file as new

    with pytest.warns(DeprecationWarning, match="raddino_monai.models.weights.head_file.load_dino_head"):
        from raddino_monai.models.dino_head import load_dino_head
    assert load_dino_head is new.load_dino_head

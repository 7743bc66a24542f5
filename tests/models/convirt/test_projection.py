"""ProjectionHead: Linear-ReLU-Linear to d = 512 ([PAPER-CV] §2.3, [RE] widths)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from raddino_monai.models.convirt import ProjectionHead


def test_layers_and_widths() -> None:
    head = ProjectionHead(768)
    assert [type(m) for m in head.children()] == [nn.Linear, nn.ReLU, nn.Linear]
    assert (head.fc1.in_features, head.fc1.out_features, head.fc2.out_features) == (768, 768, 512)
    assert ProjectionHead(2048, hidden_dim=64).fc1.out_features == 64


def test_forward_matches_manual_computation() -> None:
    head = ProjectionHead(6, out_dim=3)
    h = torch.randn(4, 6)
    expected = torch.relu(h @ head.fc1.weight.t() + head.fc1.bias) @ head.fc2.weight.t() + head.fc2.bias
    torch.testing.assert_close(head(h), expected)


def test_bad_width() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        ProjectionHead(8, out_dim=0)

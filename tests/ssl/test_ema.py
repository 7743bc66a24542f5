"""Teacher EMA: t = m t + (1 - m) s on every parameter (incl. weight-normed heads), buffers copied, errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from raddino_monai.models.dino_head import DINOHead
from raddino_monai.ssl.ema import update_ema


def _pair() -> tuple[nn.Module, nn.Module]:
    student = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), DINOHead(6, out_dim=10, hidden_dim=8, bottleneck_dim=3))
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    student.train()(torch.randn(5, 4))  # moves the BatchNorm running statistics
    return teacher, student


@pytest.mark.parametrize("momentum", [0.0, 0.992, 1.0])
def test_ema_formula(momentum: float) -> None:
    teacher, student = _pair()
    before = {k: v.clone() for k, v in teacher.named_parameters()}
    update_ema(teacher, student, momentum)
    students = dict(student.named_parameters())
    assert any("parametrizations.weight.original0" in k for k in before)
    for name, t_param in teacher.named_parameters():
        torch.testing.assert_close(t_param, momentum * before[name] + (1 - momentum) * students[name])
        assert not t_param.requires_grad
    for (name, t_buf), s_buf in zip(teacher.named_buffers(), student.buffers()):
        torch.testing.assert_close(t_buf, s_buf, msg=name)


def test_mixed_dtypes_are_grouped() -> None:
    teacher, student = _pair()
    teacher[0].double()
    expected = 0.5 * teacher[0].weight.detach().clone() + 0.5 * student[0].weight.detach().double()
    update_ema(teacher, student, 0.5)
    torch.testing.assert_close(teacher[0].weight.detach(), expected)


def test_structure_mismatch_lists_names() -> None:
    with pytest.raises(ValueError, match=r"Only in teacher: \['2.weight', '2.bias'\]|Only in teacher: \['2.bias', '2"):
        update_ema(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)), nn.Sequential(nn.Linear(2, 2)), 0.9)
    with pytest.raises(ValueError, match=r"0.weight: teacher \(3, 2\) vs student \(2, 2\)"):
        update_ema(nn.Sequential(nn.Linear(2, 3)), nn.Sequential(nn.Linear(2, 2)), 0.9)
    with pytest.raises(ValueError, match="momentum"):
        update_ema(nn.Linear(2, 2), nn.Linear(2, 2), 1.5)

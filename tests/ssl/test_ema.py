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


def test_teacher_ema_is_bit_identical_to_the_per_parameter_reference() -> None:
    """The cached foreach EMA equals ``t.mul_(m).add_(s, alpha=1 - m)`` per parameter exactly, over several steps."""
    from raddino_monai.ssl.ema import TeacherEMA

    teacher, student = _pair()
    reference = copy.deepcopy(teacher)
    ema = TeacherEMA(teacher, student)
    for step, momentum in enumerate((0.992, 0.995, 0.9999)):
        with torch.no_grad():
            for p in student.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        ema(momentum)
        students = dict(student.named_parameters())
        with torch.no_grad():
            for name, r_param in reference.named_parameters():
                r_param.mul_(momentum).add_(students[name], alpha=1 - momentum)
        for (name, t_param), r_param in zip(teacher.named_parameters(), reference.parameters()):
            assert torch.equal(t_param, r_param), f"step {step}: {name}"
        assert ema.matches(teacher, student)


def test_teacher_ema_notices_swapped_parameters_and_student_teacher_rebuilds() -> None:
    from raddino_monai.ssl import SSLConfig, StudentTeacher
    from raddino_monai.ssl.ema import TeacherEMA

    teacher, student = _pair()
    ema = TeacherEMA(teacher, student)
    student[0].weight = nn.Parameter(student[0].weight.detach().clone())  # e.g. FSDP replacing parameters
    assert not ema.matches(teacher, student)

    model = StudentTeacher.from_config(SSLConfig.tiny())
    model.update_teacher(0.5)
    first = model._ema
    model.update_teacher(0.5)
    assert model._ema is first  # cached between steps
    backbone = model.student["backbone"]
    name, param = next(iter(backbone.named_parameters()))
    module = backbone.get_submodule(name.rsplit(".", 1)[0])
    new = nn.Parameter(param.detach() + 1.0)
    setattr(module, name.rsplit(".", 1)[1], new)
    before = model.teacher["backbone"].get_parameter(name).clone()
    model.update_teacher(0.5)
    assert model._ema is not first
    torch.testing.assert_close(model.teacher["backbone"].get_parameter(name), 0.5 * before + 0.5 * new.detach())


def test_teacher_ema_rejects_bad_momentum() -> None:
    from raddino_monai.ssl.ema import TeacherEMA

    teacher, student = _pair()
    with pytest.raises(ValueError, match="momentum"):
        TeacherEMA(teacher, student)(1.5)

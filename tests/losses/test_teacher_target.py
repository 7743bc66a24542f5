"""TeacherTargetLoss: the centering chosen by name, the shared student temperature, centre updates on demand."""

from __future__ import annotations

import pytest
import torch

from raddino_monai.losses import DINOClsTokenLoss, IBOTPatchLoss, SinkhornKnoppCentering, SoftmaxCentering
from raddino_monai.losses.teacher_target import TeacherTargetLoss


def test_builds_the_named_centering_and_updates_the_centre_on_demand() -> None:
    loss = TeacherTargetLoss(out_dim=8, student_temp=0.1, centering="centering", center_momentum=0.5)
    assert isinstance(loss.centering, SoftmaxCentering) and "centering.center" in loss.state_dict()
    logits = torch.randn(4, 8)
    first = loss.teacher_probs(logits, teacher_temp=0.04, update_center=False)
    torch.testing.assert_close(first, torch.softmax(logits / 0.04, dim=-1))  # centre still 0
    loss.teacher_probs(logits, teacher_temp=0.04)
    torch.testing.assert_close(loss.centering.center, 0.5 * logits.mean(0, keepdim=True))
    sk = TeacherTargetLoss(out_dim=8, centering="sinkhorn_knopp")
    assert isinstance(sk.centering, SinkhornKnoppCentering)
    torch.testing.assert_close(sk.teacher_probs(logits, 0.07).sum(-1), torch.ones(4))


def test_is_the_base_of_both_cross_entropy_losses_and_checks_its_arguments() -> None:
    assert issubclass(DINOClsTokenLoss, TeacherTargetLoss) and issubclass(IBOTPatchLoss, TeacherTargetLoss)
    with pytest.raises(ValueError, match="student_temp must be > 0"):
        TeacherTargetLoss(out_dim=8, student_temp=0.0)
    with pytest.raises(ValueError, match="valid values"):
        TeacherTargetLoss(out_dim=8, centering="median")


def test_old_path_warns() -> None:
    with pytest.warns(DeprecationWarning, match="raddino_monai.losses.teacher_target.TeacherTargetLoss"):
        from raddino_monai.losses.centering import TeacherTargetLoss as old
    assert old is TeacherTargetLoss

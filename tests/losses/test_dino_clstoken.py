"""DINOClsTokenLoss against DINOv2's exact bookkeeping (swapped teacher, /18) re-derived in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import numpy_dino as ref

from raddino_monai.losses import DINOClsTokenLoss

K, B = 13, 4


def _views(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, B, K, generator=torch.Generator().manual_seed(seed)) * 3


@pytest.mark.parametrize("n_local", [0, 3, 8])
@pytest.mark.parametrize("centering", ["centering", "sinkhorn_knopp"])
def test_matches_dinov2_two_global_crops(n_local: int, centering: str) -> None:
    loss_fn = DINOClsTokenLoss(out_dim=K, student_temp=0.1, centering=centering)
    teacher_logits = _views(2, seed=1) * 0.1
    probs = loss_fn.teacher_probs(teacher_logits.reshape(2 * B, K), teacher_temp=0.04)  # view-major (2B, K)
    if centering == "centering":  # first call: zero centre
        expected_probs = ref.softmax(teacher_logits.double().numpy() / 0.04)
    else:  # joint Sinkhorn-Knopp over all 2B rows
        expected_probs = ref.sinkhorn_knopp(teacher_logits.reshape(2 * B, K).double().numpy(), 0.04).reshape(2, B, K)
    np.testing.assert_allclose(probs.reshape(2, B, K).numpy(), expected_probs, rtol=1e-4, atol=1e-6)
    student = _views(2 + n_local, seed=2)
    loss = loss_fn(student, probs.chunk(2))
    t_np = [p.double().numpy() for p in probs.chunk(2)]
    s_np = [s.double().numpy() for s in student]
    expected = ref.dinov2_dino_loss_two_globals(s_np, t_np, 0.1)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(ref.dino_loss_pair_mean(s_np, t_np, 0.1), rel=1e-12)


def test_general_view_counts_are_a_pair_mean() -> None:
    loss_fn = DINOClsTokenLoss(out_dim=K)
    teacher = torch.softmax(_views(3, seed=3), dim=-1)
    student = _views(5, seed=4)
    s_np, t_np = [s.double().numpy() for s in student], [t.double().numpy() for t in teacher]
    expected = ref.dino_loss_pair_mean(s_np, t_np, 0.1)
    assert loss_fn(list(student), list(teacher)).item() == pytest.approx(expected, rel=1e-5)


def test_stacked_and_list_inputs_agree_and_gradients_are_finite() -> None:
    loss_fn = DINOClsTokenLoss(out_dim=K)
    teacher = loss_fn.teacher_probs(_views(2, seed=5), teacher_temp=0.07)
    student = _views(10, seed=6).requires_grad_(True)
    stacked = loss_fn(student, teacher)
    listed = loss_fn(list(student.unbind(0)), list(teacher.unbind(0)))
    torch.testing.assert_close(stacked, listed)
    stacked.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0


def test_bf16_student_logits_are_computed_in_float32() -> None:
    loss_fn = DINOClsTokenLoss(out_dim=K)
    teacher = torch.softmax(_views(2, seed=7), dim=-1)
    student = _views(4, seed=8).bfloat16()
    expected = loss_fn(student.float(), teacher)
    torch.testing.assert_close(loss_fn(student, teacher), expected)


def test_teacher_probs_update_the_centre_for_the_next_batch() -> None:
    loss_fn = DINOClsTokenLoss(out_dim=K, center_momentum=0.9)
    first, second = _views(2, seed=9).reshape(2 * B, K), _views(2, seed=10).reshape(2 * B, K)
    loss_fn.teacher_probs(first, 0.04)
    probs = loss_fn.teacher_probs(second, 0.05)
    expected, _ = ref.softmax_centering_sequence([first.double().numpy(), second.double().numpy()], [0.04, 0.05], 0.9)
    np.testing.assert_allclose(probs.numpy(), expected[1], rtol=1e-4, atol=1e-6)
    frozen = loss_fn.centering.center.clone()
    loss_fn.teacher_probs(first, 0.05, update_center=False)
    torch.testing.assert_close(loss_fn.centering.center, frozen)
    assert "centering.center" in loss_fn.state_dict()


def test_errors() -> None:
    loss_fn = DINOClsTokenLoss(out_dim=K)
    teacher = torch.softmax(_views(2, seed=11), dim=-1)
    with pytest.raises(ValueError, match="chunk"):
        loss_fn(torch.zeros(2 * B, K), teacher)
    with pytest.raises(ValueError, match="No .* pair"):
        loss_fn(_views(1, seed=12), teacher[:1])
    with pytest.raises(ValueError, match="must both be"):
        loss_fn(torch.zeros(3, B + 1, K), teacher)
    with pytest.raises(ValueError, match="valid values are"):
        DINOClsTokenLoss(out_dim=K, centering="mean")
    with pytest.raises(ValueError, match="student_temp"):
        DINOClsTokenLoss(out_dim=K, student_temp=0.0)


def test_loss_is_float32_under_bf16_autocast() -> None:
    """The trainer calls the loss inside bf16 autocast; the pair cross-entropy (an einsum) must still be fp32."""
    torch.manual_seed(0)
    loss = DINOClsTokenLoss(out_dim=64)
    students = [torch.randn(4, 64) for _ in range(4)]
    teachers = [torch.softmax(torch.randn(4, 64) / 0.04, dim=-1) for _ in range(2)]
    expected = loss(students, teachers)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        got = loss(students, teachers)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)

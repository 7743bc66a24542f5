"""IBOTPatchLoss against a NumPy re-derivation of DINOv2's forward_masked (per-image 1/n_masked, / n_images)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import numpy_dino as ref

from raddino_monai.losses import IBOTPatchLoss
from raddino_monai.data.masking import masks_weight_from_masks

K, N = 9, 12


def _masks() -> torch.Tensor:
    masks = torch.zeros(5, N, dtype=torch.bool)  # 5 global-crop images, 2 of them unmasked
    masks[0, [1, 2, 3]] = True
    masks[2, [0, 5, 6, 7, 11]] = True
    masks[4, [4]] = True
    return masks


def _logits(m: int, seed: int) -> torch.Tensor:
    return torch.randn(m, K, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("centering", ["centering", "sinkhorn_knopp"])
def test_matches_reference(centering: str) -> None:
    masks = _masks()
    m = int(masks.sum())
    loss_fn = IBOTPatchLoss(out_dim=K, student_temp=0.1, centering=centering)
    teacher_logits = _logits(m, seed=0)
    probs = loss_fn.teacher_probs(teacher_logits, teacher_temp=0.05)
    t_np = teacher_logits.double().numpy()
    expected_probs = ref.softmax(t_np / 0.05) if centering == "centering" else ref.sinkhorn_knopp(t_np, 0.05)
    np.testing.assert_allclose(probs.numpy(), expected_probs, rtol=1e-4, atol=1e-6)
    student = _logits(m, seed=1).requires_grad_(True)
    loss = loss_fn(student, probs, masks_weight_from_masks(masks), n_images=masks.shape[0])
    expected = ref.ibot_loss(student.detach().double().numpy(), probs.double().numpy(), masks.numpy(), 0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()


def test_centre_is_the_mean_of_the_masked_tokens() -> None:
    loss_fn = IBOTPatchLoss(out_dim=K, center_momentum=0.9)
    teacher_logits = _logits(7, seed=2)
    loss_fn.teacher_probs(teacher_logits, teacher_temp=0.04)
    torch.testing.assert_close(loss_fn.centering.center, 0.1 * teacher_logits.mean(dim=0, keepdim=True))


def test_each_masked_image_weighs_the_same_and_unmasked_images_dilute() -> None:
    masks = _masks()
    weights = masks_weight_from_masks(masks)
    per_image = torch.zeros(masks.shape[0]).index_add_(0, masks.nonzero()[:, 0], weights)
    torch.testing.assert_close(per_image, torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0]))
    loss_fn = IBOTPatchLoss(out_dim=K)
    m = int(masks.sum())
    student, teacher = _logits(m, seed=3), torch.softmax(_logits(m, seed=4), dim=-1)
    five = loss_fn(student, teacher, weights, n_images=5)
    ten = loss_fn(student, teacher, weights, n_images=10)
    torch.testing.assert_close(ten, five / 2)


def test_no_masked_patch_gives_zero_with_a_graph() -> None:
    loss_fn = IBOTPatchLoss(out_dim=K, centering="sinkhorn_knopp")
    student = torch.zeros(0, K, requires_grad=True)
    probs = loss_fn.teacher_probs(torch.zeros(0, K), teacher_temp=0.04)
    loss = loss_fn(student, probs, torch.zeros(0), n_images=4)
    assert loss.item() == 0.0
    loss.backward()
    centred = IBOTPatchLoss(out_dim=K)
    centred.teacher_probs(torch.zeros(0, K), teacher_temp=0.04)
    assert torch.count_nonzero(centred.centering.center) == 0


def test_errors() -> None:
    loss_fn = IBOTPatchLoss(out_dim=K)
    x = torch.zeros(3, K)
    with pytest.raises(ValueError, match="masks_weight"):
        loss_fn(x, x, torch.ones(2), n_images=2)
    with pytest.raises(ValueError, match="n_images"):
        loss_fn(x, x, torch.ones(3), n_images=0)
    with pytest.raises(ValueError, match="must"):
        loss_fn(x, torch.zeros(4, K), torch.ones(3), n_images=2)
    with pytest.raises(ValueError, match=r"\(M, K\)"):
        loss_fn.teacher_probs(torch.zeros(2, 3, K), 0.04)

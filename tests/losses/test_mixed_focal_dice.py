from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.losses.mixed_focal_dice import MixedFocalDiceLoss


def _numpy_mixed(x: np.ndarray, t: np.ndarray, alpha: float = 10.0, gamma: float = 2.0) -> float:
    # [ECAMP] Fine-tuning/Segmentation/utils/segmentation_loss.py, transcribed: FocalLoss, dice_loss, MixedLoss
    max_val = np.clip(-x, 0, None)
    bce = x - x * t + max_val + np.log(np.exp(-max_val) + np.exp(-x - max_val))
    z = -x * (t * 2.0 - 1.0)
    invprobs = -np.log1p(np.exp(-z))  # logsigmoid(z)
    focal = np.mean(np.exp(invprobs * gamma) * bce)
    p = 1 / (1 + np.exp(-x))
    dice = (2.0 * (p * t).sum() + 1.0) / (p.sum() + t.sum() + 1.0)
    return alpha * focal - np.log(dice)


def test_matches_ecamp_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 1, 6, 6)) * 3
    t = (rng.random((2, 1, 6, 6)) < 0.3).astype(float)
    got = MixedFocalDiceLoss()(torch.tensor(x), torch.tensor(t))
    assert float(got) == pytest.approx(_numpy_mixed(x, t), rel=1e-6)


def test_better_prediction_lower_loss_and_errors() -> None:
    t = torch.zeros(1, 1, 4, 4)
    t[..., :2, :] = 1
    loss = MixedFocalDiceLoss()
    assert loss(8 * (2 * t - 1), t) < loss(torch.zeros_like(t), t) < loss(-8 * (2 * t - 1), t)
    with pytest.raises(ValueError, match="one shape"):
        loss(torch.zeros(1, 2, 4, 4), t)
    with pytest.raises(ValueError, match="smooth"):
        MixedFocalDiceLoss(smooth=0)

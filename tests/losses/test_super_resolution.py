from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.losses.super_resolution import SuperResolutionLoss


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pred, target = rng.normal(size=(2, 3, 8, 8)), rng.normal(size=(2, 3, 8, 8))
    region = np.zeros((2, 1, 8, 8))
    region[0, :, 2:6, 1:7] = 1
    region[1, :, :4, :] = 1
    return pred, target, region


def test_plain_mse() -> None:
    pred, target, _ = _data()
    got = SuperResolutionLoss()(torch.tensor(pred), torch.tensor(target))
    assert float(got) == pytest.approx(np.mean((pred - target) ** 2), rel=1e-6)


def test_region_weighting_is_ecamps_masked_mse() -> None:
    # [ECAMP] model_ecamp.py lines 291-299: F.mse_loss(sr * super_mask, big * super_mask), mean over every pixel
    pred, target, region = _data(1)
    ecamp = np.mean((pred * region - target * region) ** 2)
    got = SuperResolutionLoss()(torch.tensor(pred), torch.tensor(target), torch.tensor(region))
    assert float(got) == pytest.approx(ecamp, rel=1e-6)
    inside = ((pred - target) ** 2 * region).sum() / (3 * region.sum())
    got = SuperResolutionLoss(normalize_by="region")(torch.tensor(pred), torch.tensor(target), torch.tensor(region))
    assert float(got) == pytest.approx(inside, rel=1e-6)


def test_outside_region_does_not_count() -> None:
    pred, target, region = (torch.tensor(a) for a in _data(2))
    loss = SuperResolutionLoss()
    moved = pred + 50.0 * (1 - region)
    assert float(loss(moved, target, region)) == pytest.approx(float(loss(pred, target, region)))


def test_errors() -> None:
    with pytest.raises(ValueError, match="normalize_by must be one of"):
        SuperResolutionLoss(normalize_by="mean")
    with pytest.raises(ValueError, match="one shape"):
        SuperResolutionLoss()(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        SuperResolutionLoss()(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="all-zero"):
        SuperResolutionLoss("region")(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4))

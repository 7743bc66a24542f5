"""MIM loss against a NumPy re-derivation (MAE ``forward_loss``; ECAMP's image-space ``F.mse_loss`` form)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.losses.masked_pixel import MaskedPixelLoss


def _numpy_loss(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, norm_pix: bool, by: str) -> float:
    if norm_pix:  # [MAE] models_mae.py lines 205-208, unbiased variance (torch.var default)
        mean = target.mean(-1, keepdims=True)
        var = target.var(-1, ddof=1, keepdims=True)
        target = (target - mean) / np.sqrt(var + 1e-6)
    err = ((pred - target) ** 2).mean(-1)
    total = (err * mask).sum()
    return total / (mask.size if by == "all_patches" else mask.sum())


@pytest.mark.parametrize("norm_pix", [False, True])
@pytest.mark.parametrize("by", ["all_patches", "masked_patches"])
def test_matches_numpy(norm_pix: bool, by: str) -> None:
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(3, 16, 12)), rng.normal(size=(3, 16, 12)) * 2 + 1
    mask = (rng.random((3, 16)) < 0.75).astype(float)
    got = MaskedPixelLoss(norm_pix=norm_pix, normalize_by=by)(
        torch.tensor(pred, dtype=torch.float32), torch.tensor(target, dtype=torch.float32), torch.tensor(mask))
    assert float(got) == pytest.approx(_numpy_loss(pred, target, mask, norm_pix, by), rel=1e-5)


def test_only_masked_patches_count() -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 9, 12, generator=g), torch.randn(2, 9, 12, generator=g)
    mask = torch.zeros(2, 9)
    mask[:, :5] = 1
    loss = MaskedPixelLoss(normalize_by="masked_patches")
    before = loss(pred, target, mask)
    pred2 = pred.clone()
    pred2[:, 5:] += 100.0  # change every visible patch
    assert torch.equal(loss(pred2, target, mask), before)
    pred.requires_grad_(True)
    loss(pred, target, mask).backward()
    assert pred.grad[:, 5:].abs().sum() == 0 and pred.grad[:, :5].abs().sum() > 0


def test_all_patches_equals_ecamp_image_space_mse() -> None:
    # [ECAMP] model_ecamp.py lines 282-298: F.mse_loss(pred_img * pixel_mask, img * pixel_mask) over all pixels, with
    # pixel_mask = kron(patch mask, ones(p, p)); here p = 2 on a 3 x 3 grid of 2 x 2 patches, 3 channels
    rng = np.random.default_rng(1)
    p, h = 2, 3
    pred_img, img = rng.normal(size=(2, 3, h * p, h * p)), rng.normal(size=(2, 3, h * p, h * p))
    mask = np.zeros((2, h * h))
    mask[0, [0, 4, 8, 2]] = 1
    mask[1, [1, 3, 5, 7]] = 1
    pixel_mask = np.stack([np.kron(m.reshape(h, h), np.ones((p, p))) for m in mask])[:, None]
    ecamp = np.mean((pred_img * pixel_mask - img * pixel_mask) ** 2)

    def patchify(x: np.ndarray) -> np.ndarray:  # [MAE] nchpwq -> nhwpqc
        return x.reshape(2, 3, h, p, h, p).transpose(0, 2, 4, 3, 5, 1).reshape(2, h * h, p * p * 3)

    got = MaskedPixelLoss()(torch.tensor(patchify(pred_img)), torch.tensor(patchify(img)), torch.tensor(mask))
    assert float(got) == pytest.approx(ecamp, rel=1e-6)
    masked_mean = MaskedPixelLoss(normalize_by="masked_patches")(
        torch.tensor(patchify(pred_img)), torch.tensor(patchify(img)), torch.tensor(mask))
    assert float(got) == pytest.approx(float(masked_mean) * 4 / 9, rel=1e-6)  # factor N_masked / N


def test_errors() -> None:
    with pytest.raises(ValueError, match="normalize_by must be one of"):
        MaskedPixelLoss(normalize_by="pixels")
    with pytest.raises(ValueError, match=r"\(B, N, P\)"):
        MaskedPixelLoss()(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="without masked patches"):
        MaskedPixelLoss(normalize_by="masked_patches")(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), torch.zeros(1, 4))

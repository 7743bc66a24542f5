"""Tests for raddino_monai.transforms.intensity (X-ray intensity augmentations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.data import MetaTensor

from raddino_monai.transforms.intensity import (
    RandBrightnessContrast,
    RandBrightnessContrastd,
    RandGaussianBlur,
    RandGaussianBlurd,
    RandSolarize,
    RandSolarized,
    gaussian_blur,
)


def _reference_blur(img: torch.Tensor, sigma: float, kernel_size: int) -> torch.Tensor:
    """torchvision ``F.gaussian_blur`` maths written out: 2-D kernel, reflect padding, conv2d."""
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, steps=kernel_size, dtype=torch.float64)
    pdf = torch.exp(-0.5 * (x / sigma).pow(2))
    k1 = pdf / pdf.sum()
    k2 = (k1[:, None] * k1[None, :]).expand(img.shape[0], 1, kernel_size, kernel_size)
    pad = kernel_size // 2
    padded = F.pad(img[None].double(), (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(padded, k2, groups=img.shape[0])[0].float()


def test_brightness_contrast_formula() -> None:
    t = RandBrightnessContrast(prob=1.0)
    t.randomize()
    t.brightness_factor, t.contrast_factor, t.brightness_first = 1.5, 0.5, True
    img = torch.tensor([[[0.2, 0.6]]])
    bright = torch.tensor([[[0.3, 0.9]]])  # x * 1.5
    expected = 0.5 * bright + 0.5 * bright.mean()
    torch.testing.assert_close(t(img, randomize=False), expected)
    t.brightness_first = False
    contrasted = 0.5 * img + 0.5 * img.mean()
    torch.testing.assert_close(t(img, randomize=False), (contrasted * 1.5).clamp(0, 1))


def test_brightness_contrast_draws_in_range_and_clips() -> None:
    t = RandBrightnessContrast(prob=1.0, brightness=0.4, contrast=0.2).set_random_state(0)
    img = torch.rand(1, 16, 16)
    for _ in range(50):
        out = t(img)
        assert 0.6 <= t.brightness_factor <= 1.4 and 0.8 <= t.contrast_factor <= 1.2
        assert out.min() >= 0 and out.max() <= 1


def test_brightness_contrast_probability() -> None:
    t = RandBrightnessContrast(prob=0.8).set_random_state(1)
    img = torch.rand(1, 8, 8)
    applied = [not torch.equal(t(img), img) for _ in range(1000)]
    assert abs(np.mean(applied) - 0.8) < 0.05
    assert torch.equal(RandBrightnessContrast(prob=0.0)(img), img)


def test_seeded_determinism() -> None:
    img = torch.rand(1, 32, 32)
    for cls in (RandBrightnessContrast, RandGaussianBlur, RandSolarize):
        t1, t2 = cls(prob=0.5).set_random_state(3), cls(prob=0.5).set_random_state(3)
        for _ in range(5):
            torch.testing.assert_close(t1(img), t2(img))


@pytest.mark.parametrize("sigma,kernel_size", [(0.1, 9), (1.0, 9), (2.0, 9), (1.3, 5)])
def test_gaussian_blur_matches_torchvision_maths(sigma: float, kernel_size: int) -> None:
    img = torch.rand(3, 20, 24)
    torch.testing.assert_close(gaussian_blur(img, sigma, kernel_size), _reference_blur(img, sigma, kernel_size))


def test_gaussian_blur_keeps_constant_and_small_images() -> None:
    torch.testing.assert_close(gaussian_blur(torch.full((1, 12, 12), 0.3), 1.5), torch.full((1, 12, 12), 0.3))
    assert gaussian_blur(torch.rand(1, 3, 3), 1.0).shape == (1, 3, 3)  # too small to reflect: replicate
    with pytest.raises(ValueError, match="odd"):
        gaussian_blur(torch.rand(1, 8, 8), 1.0, kernel_size=4)
    with pytest.raises(ValueError, match="sigma"):
        RandGaussianBlur(sigma=(0.0, 1.0))


def test_rand_gaussian_blur_sigma_range() -> None:
    t = RandGaussianBlur(prob=1.0, sigma=(0.1, 2.0)).set_random_state(0)
    sigmas = []
    for _ in range(500):
        t.randomize()
        sigmas.append(t.sigma_value)
    assert 0.1 <= min(sigmas) and max(sigmas) <= 2.0 and abs(np.mean(sigmas) - 1.05) < 0.06
    img = torch.rand(1, 16, 16)
    out = t(img)
    torch.testing.assert_close(out, _reference_blur(img, t.sigma_value, 9))


def test_solarize_threshold_is_dinov2_128() -> None:
    img = torch.tensor([[[0.0, 127 / 255, 128 / 255, 1.0]]])
    out = RandSolarize(prob=1.0)(img)
    torch.testing.assert_close(out, torch.tensor([[[0.0, 127 / 255, 127 / 255, 0.0]]]))
    assert torch.equal(RandSolarize(prob=0.0)(img), img)


def test_solarize_probability() -> None:
    t = RandSolarize(prob=0.2).set_random_state(0)
    img = torch.full((1, 4, 4), 0.9)
    rate = np.mean([bool(t(img)[0, 0, 0] < 0.5) for _ in range(2000)])
    assert abs(rate - 0.2) < 0.03


def test_dictionary_versions_share_one_draw() -> None:
    img = torch.rand(1, 16, 16)
    for t in (
        RandBrightnessContrastd(["a", "b"], prob=1.0),
        RandGaussianBlurd(["a", "b"], prob=1.0),
        RandSolarized(["a", "b"], prob=1.0),
    ):
        out = t.set_random_state(0)({"a": img, "b": img.clone(), "c": 5})
        torch.testing.assert_close(out["a"], out["b"])
        assert not torch.equal(out["a"], img) and out["c"] == 5


def test_dictionary_probability_zero_is_identity() -> None:
    img = torch.rand(1, 8, 8)
    assert RandGaussianBlurd("a", prob=0.0)({"a": img})["a"] is img


def test_metatensor_keeps_meta_and_bad_input_errors() -> None:
    img = MetaTensor(torch.rand(1, 8, 8), meta={"filename_or_obj": "x.png"})
    out = RandSolarize(prob=1.0)(img)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "x.png"
    with pytest.raises(ValueError, match=r"RandGaussianBlur expects a \(C, H, W\) image"):
        RandGaussianBlur(prob=1.0)(torch.rand(8, 8))
    with pytest.raises(ValueError, match="float"):
        RandBrightnessContrast(prob=1.0)(torch.zeros(1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=">= 0"):
        RandBrightnessContrast(brightness=-1)


def test_blur_reduces_high_frequencies() -> None:
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2).float()[None]
    out = gaussian_blur(checker, 2.0)
    assert out.std() < 0.1 * checker.std()
    assert math.isclose(out.mean().item(), checker.mean().item(), abs_tol=0.02)

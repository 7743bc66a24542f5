"""Tests for raddino_monai.transforms.multicrop_config (multi-crop recipes and crop samplers)."""

from __future__ import annotations

import numpy as np
import pytest

from raddino_monai.transforms.multicrop_config import (
    MULTICROP_RECIPES,
    MultiCropConfig,
    sample_area_box,
    sample_side_box,
)


@pytest.mark.parametrize(
    "scale,low,high", [((259 / 518, 1.0), 259, 518), ((104 / 518, 259 / 518), 104, 259)], ids=["global", "local"]
)
def test_side_uniform_crop_sizes(scale: tuple[float, float], low: int, high: int) -> None:
    """Square side-uniform crops of a 518 image: side ~ U(low, high) [PAPER]."""
    rng = np.random.RandomState(0)
    sides = np.array([sample_side_box(rng, (518, 518), scale, (1.0, 1.0))[2] for _ in range(4000)])
    assert sides.min() >= low and sides.max() <= high
    assert abs(sides.mean() - (low + high) / 2) < 0.02 * (high - low) + 1
    quartiles = np.quantile(sides, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(quartiles, low + (high - low) * np.array([0.25, 0.5, 0.75]), atol=0.04 * (high - low))


def test_area_uniform_crop_sizes() -> None:
    """RandomResizedCrop semantics: area fraction ~ U(0.32, 1) for square crops [DV2]."""
    rng = np.random.RandomState(0)
    boxes = [sample_area_box(rng, (400, 400), (0.32, 1.0), (1.0, 1.0)) for _ in range(4000)]
    fractions = np.array([h * w / 400**2 for _, _, h, w in boxes])
    assert fractions.min() >= 0.31 and fractions.max() <= 1.0
    assert abs(fractions.mean() - 0.66) < 0.02


def test_area_fallback_is_central_crop() -> None:
    rng = np.random.RandomState(0)
    # a 10 x 1000 strip cannot hold a square of 90 % of its area: after 10 tries, a central 10 x 10 crop
    top, left, h, w = sample_area_box(rng, (10, 1000), (0.9, 1.0), (1.0, 1.0))
    assert (h, w) == (10, 10) and (top, left) == (0, 495)


def test_presets() -> None:
    rad = MultiCropConfig.raddino()
    assert rad == MultiCropConfig()
    assert (rad.global_size, rad.local_size, rad.n_global, rad.n_local, rad.crop_mode) == (518, 196, 2, 8, "side")
    np.testing.assert_allclose(np.array(rad.global_scale) * 518, (259, 518))
    np.testing.assert_allclose(np.array(rad.local_scale) * 518, (104, 259))
    assert rad.mean == (0.5307,) * 3 and rad.std == (0.2583,) * 3
    assert rad.global_solarize_probs == (0.0, 0.2) and rad.gamma_prob == 0.0
    assert rad.global_blur_probs[0] < 1.0 and rad.local_blur_prob < 0.5  # "less blur" than [DV2]

    dv2 = MultiCropConfig.dinov2()
    assert (dv2.global_size, dv2.local_size, dv2.crop_mode) == (224, 96, "area")
    assert (dv2.global_scale, dv2.local_scale) == ((0.32, 1.0), (0.05, 0.32))
    assert (dv2.global_blur_probs, dv2.local_blur_prob) == ((0.0, 0.9), 0.5)
    assert MultiCropConfig.dinov2(blur_as_intended=True).global_blur_probs == (1.0, 0.1)
    assert dv2.global_solarize_probs == (0.0, 0.2) and dv2.solarize_threshold == 128 / 255
    assert (dv2.brightness, dv2.contrast, dv2.jitter_prob, dv2.flip_prob) == (0.4, 0.4, 0.8, 0.5)
    assert dv2.blur_sigma == (0.1, 2.0) and dv2.blur_kernel_size == 9

    tiny = MultiCropConfig.tiny()
    assert (tiny.global_size, tiny.local_size, tiny.n_local) == (112, 48, 4)
    assert MultiCropConfig.dinov2(local_size=98).local_size == 98


def test_named_recipes() -> None:
    assert set(MULTICROP_RECIPES) == {"raddino", "dinov2", "tiny"}
    assert MultiCropConfig.from_recipe("tiny", n_local=2) == MultiCropConfig.tiny(n_local=2)
    assert MultiCropConfig.from_recipe() == MultiCropConfig.raddino()
    with pytest.raises(ValueError, match=r"Unknown multi-crop recipe 'ibot'; valid values: \['dinov2', 'raddino'"):
        MultiCropConfig.from_recipe("ibot")

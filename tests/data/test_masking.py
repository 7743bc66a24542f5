"""Block-wise iBOT masks: settings, counts, block shapes, stratified ratios, weights, determinism, explicit RNG only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raddino_monai.data.masking import (
    MaskingConfig,
    MaskingGenerator,
    dinov2_max_num_patches,
    masks_weight_from_masks,
    sample_ibot_masks,
)


def test_dinov2_precedence_quirk() -> None:
    assert dinov2_max_num_patches(518, 14) == 666.0  # DINOv2's value; the intended one is 0.5 * 37 * 37 = 684.5
    assert dinov2_max_num_patches(224, 14) == 128.0 == 0.5 * 16 * 16
    assert MaskingGenerator((37, 37)).max_num_patches == 684.5


@pytest.mark.parametrize("requested", [0, 20, 137, 500])
def test_count_never_exceeds_request_and_usually_reaches_it(requested: int) -> None:
    gen = MaskingGenerator((37, 37))
    rng = np.random.default_rng(0)
    counts = [int(gen(requested, rng).sum()) for _ in range(20)]
    assert max(counts) <= requested
    assert np.mean(counts) >= 0.9 * requested


def test_single_blocks_are_filled_rectangles_within_bounds() -> None:
    gen = MaskingGenerator((20, 20), max_num_patches=60)
    rng = np.random.default_rng(1)
    areas, log_aspects = [], []
    for _ in range(300):
        mask = np.zeros((20, 20), dtype=bool)
        added = gen._add_block(mask, 60, rng)
        rows, cols = np.nonzero(mask)
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert added == mask.sum() == h * w  # one filled rectangle
        areas.append(h * w)
        log_aspects.append(math.log(h / w))
    # area ~ U(4, 60) before rounding h and w; rounding can give 3 patches (e.g. 1 x 3) near the minimum
    assert min(areas) >= 3 and max(areas) <= 60
    assert 25 < np.mean(areas) < 40
    assert abs(np.mean(log_aspects)) < 0.15  # log-uniform aspect in [0.3, 1/0.3] is symmetric
    assert max(abs(a) for a in log_aspects) <= math.log(4.0) + 1e-9


@pytest.mark.parametrize("rng_factory", [np.random.default_rng, np.random.RandomState])
def test_sample_ibot_masks_is_stratified_and_weighted(rng_factory: type) -> None:
    grid, n_images = (14, 14), 16
    n_patches = 14 * 14
    out = sample_ibot_masks(n_images, grid, rng_factory(3), MaskingConfig(0.5, (0.1, 0.5)))
    masks, weights, n_masked = out
    assert masks.shape == (n_images, n_patches) and masks.dtype == torch.bool
    counts = masks.sum(dim=1)
    assert n_masked == int((counts > 0).sum()) and 6 <= n_masked <= 8  # int(16 * 0.5) images masked
    assert int((counts == 0).sum()) >= 8
    # stratified: sorted masked counts stay below the stratum upper bounds int(N * linspace(0.1, 0.5, 9)[i + 1])
    upper = [int(n_patches * r) for r in np.linspace(0.1, 0.5, 9)[1:]]
    masked_counts = sorted(int(c) for c in counts if c > 0)
    assert all(c <= u for c, u in zip(masked_counts[::-1], upper[::-1]))
    assert max(masked_counts) <= 0.5 * n_patches and min(masked_counts) >= 0.05 * n_patches
    # weights: one per masked patch, in flatten().nonzero() order, summing to 1 per masked image
    assert weights.shape == (int(counts.sum()),)
    owner = masks.nonzero()[:, 0]
    per_image = torch.zeros(n_images, dtype=weights.dtype).index_add_(0, owner, weights)
    torch.testing.assert_close(per_image, (counts > 0).to(weights.dtype))
    torch.testing.assert_close(weights, masks_weight_from_masks(masks))


def test_ratios_cover_the_range_on_average() -> None:
    rng = np.random.default_rng(4)
    ratios = []
    for _ in range(10):
        masks, _, _ = sample_ibot_masks(20, (16, 16), rng)
        ratios += [float(c) / 256 for c in masks.sum(dim=1) if c > 0]
    assert 0.05 <= min(ratios) and max(ratios) <= 0.5
    assert 0.22 < np.mean(ratios) < 0.32  # about the middle of U(0.1, 0.5), slightly below (count <= request)


def test_deterministic_by_seed_and_no_global_rng() -> None:
    np.random.seed(0)
    state = np.random.get_state()
    a = sample_ibot_masks(8, (10, 10), np.random.default_rng(7))
    b = sample_ibot_masks(8, (10, 10), np.random.default_rng(7))
    c = sample_ibot_masks(8, (10, 10), np.random.default_rng(8))
    assert torch.equal(a.masks, b.masks) and torch.equal(a.masks_weight, b.masks_weight)
    assert not torch.equal(a.masks, c.masks)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global NumPy RNG was not used


def test_no_masking() -> None:
    out = sample_ibot_masks(4, (5, 5), np.random.default_rng(0), MaskingConfig(mask_sample_probability=0.0))
    assert not out.masks.any() and out.masks_weight.numel() == 0 and out.n_masked_images == 0


def test_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="masking.mask_sample_probability"):
        MaskingConfig(mask_sample_probability=1.5)
    with pytest.raises(ValueError, match="masking.mask_ratio_min_max"):
        MaskingConfig(mask_ratio_min_max=(0.6, 0.2))
    with pytest.raises(ValueError, match="pair"):
        MaskingConfig(mask_ratio_min_max=(0.1, 0.2, 0.3))
    with pytest.raises(TypeError, match="MaskingConfig"):
        sample_ibot_masks(4, (5, 5), rng, 0.5)
    with pytest.raises(ValueError, match="differs from grid"):
        sample_ibot_masks(4, (5, 5), rng, generator=MaskingGenerator((6, 6)))
    with pytest.raises(ValueError, match="min_aspect"):
        MaskingGenerator((5, 5), min_aspect=0.0)
    with pytest.raises(ValueError, match="bool"):
        masks_weight_from_masks(torch.zeros(2, 3))


def test_old_import_path_warns_and_serves_the_same_object() -> None:
    import raddino_monai.data.masking as new
    import raddino_monai.ssl as ssl

    with pytest.warns(DeprecationWarning, match="raddino_monai.data.masking.sample_ibot_masks"):
        from raddino_monai.ssl.masking import sample_ibot_masks as old
    assert old is new.sample_ibot_masks
    with pytest.warns(DeprecationWarning, match="moved to raddino_monai.data.masking.MaskingGenerator"):
        assert ssl.MaskingGenerator is new.MaskingGenerator

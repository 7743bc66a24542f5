"""CLS attention maps at input resolution and DINO's top-mass masks: values, shapes, a NumPy re-derivation, PNGs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.visualize.attention import (
    cls_attention,
    cls_attention_grid,
    save_attention_png,
    top_mass_mask,
)


def test_cls_attention_is_a_distribution_per_head(backbone):
    image = torch.randn(3, 56, 84)
    maps = cls_attention(backbone, image)
    assert tuple(maps.shape) == (backbone.num_heads, 56, 84)
    # nearest upsampling repeats each patch value patch_size**2 times: sum over pixels = 14*14 per head
    torch.testing.assert_close(maps.sum(dim=(1, 2)), torch.full((backbone.num_heads,), 14.0 * 14.0))
    grid = cls_attention_grid(backbone, image)
    assert tuple(grid.shape) == (backbone.num_heads, 4, 6) and float(grid.min()) >= 0
    torch.testing.assert_close(grid.sum(dim=(1, 2)), torch.ones(backbone.num_heads))
    torch.testing.assert_close(maps[:, ::14, ::14], grid)  # the top-left pixel of each block is its patch value
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        cls_attention(backbone, image[None])


def test_bilinear_upsampling_is_smooth_and_keeps_the_mean(backbone):
    image = torch.randn(3, 56, 56)
    nearest, smooth = cls_attention(backbone, image), cls_attention(backbone, image, mode="bilinear")
    assert smooth.shape == nearest.shape
    assert abs(float(smooth.mean()) - float(nearest.mean())) < 0.1 * float(nearest.mean())
    # bilinear has more distinct values than 4 x 4 blocks
    assert len(torch.unique(smooth[0])) > len(torch.unique(nearest[0]))
    with pytest.raises(ValueError, match="valid values"):
        cls_attention(backbone, image, mode="bicubic")


def _numpy_top_mass(values: np.ndarray, mass: float) -> np.ndarray:
    """Independent re-derivation: walk from the largest value down, keep while the mass of the larger ones < mass."""
    flat = values.ravel() / values.sum()
    keep = np.zeros(flat.shape, dtype=bool)
    larger = 0.0
    for index in np.argsort(-flat, kind="stable"):
        if larger >= mass - 1e-12:
            break
        keep[index] = True
        larger += flat[index]
    return keep.reshape(values.shape)


@pytest.mark.parametrize("mass", [0.1, 0.6, 0.95, 1.0])
def test_top_mass_mask_matches_numpy_and_holds_the_mass(mass):
    rng = np.random.default_rng(0)
    attention = rng.dirichlet(np.full(35, 0.5), size=4).reshape(4, 5, 7)  # distinct values, no ties
    masks = top_mass_mask(torch.as_tensor(attention), mass).numpy()
    for head in range(4):
        np.testing.assert_array_equal(masks[head], _numpy_top_mass(attention[head], mass))
        kept = attention[head][masks[head]].sum()
        assert kept >= mass - 1e-9  # at least the mass ...
        smallest = attention[head][masks[head]].min()
        assert kept - smallest < mass + 1e-9  # ... and minimal: without its smallest patch it falls short


def test_top_mass_mask_keeps_a_single_peak():
    attention = torch.full((1, 4, 4), 0.01)
    attention[0, 2, 1] = 0.85
    mask = top_mass_mask(attention, 0.6)
    assert mask.sum() == 1 and mask[0, 2, 1]
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        top_mass_mask(attention, 0.0)


def test_attention_png_with_masks(backbone, tmp_path, check_png):
    image = torch.randn(3, 56, 56)
    maps = cls_attention(backbone, image)
    grid = top_mass_mask(cls_attention_grid(backbone, image)).float()
    masks = torch.nn.functional.interpolate(grid[:, None], size=(56, 56))[:, 0] > 0.5
    plain = save_attention_png(image, maps, tmp_path / "a" / "att.png", "t")
    with_masks = save_attention_png(image, maps, tmp_path / "att_masks.png", "t", masks=masks)
    assert check_png(with_masks).shape[0] > check_png(plain).shape[0]  # one more block of rows

"""PCA patch maps: shapes and ranges, an image and its copy get identical colours, a NumPy re-derivation, PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.visualize.pca_maps import patch_features, patch_pca_rgb, save_pca_png


def _synthetic(b: int = 2, d: int = 16, size: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Patch grids whose central 4 x 4 patches ("body") differ from the border ("outside"); returns (grid, body)."""
    rng = np.random.default_rng(seed)
    body = np.zeros((b, size, size), dtype=bool)
    body[:, 1:-1, 1:-1] = True
    outside, inside = rng.normal(size=d) * 3, rng.normal(size=d) * 3
    x = rng.normal(scale=0.3, size=(b, size, size, d)) + np.where(body[..., None], inside, outside)
    x[body] += rng.normal(size=(int(body.sum()), 3)) @ rng.normal(size=(3, d))  # structure inside the body
    return x.transpose(0, 3, 1, 2), body


def _numpy_whitened_pca(x: np.ndarray, n: int) -> np.ndarray:
    """Independent re-derivation: eigen-decomposition of the covariance, projections divided by sqrt(eigenvalue)."""
    centred = x - x.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred / (len(x) - 1))
    order = np.argsort(values)[::-1][:n]
    return centred @ vectors[:, order] / np.sqrt(values[order])


@pytest.mark.parametrize("foreground_pca", ["per_image", "joint"])
def test_background_is_the_low_side_of_the_first_component(foreground_pca):
    grid, body = _synthetic()
    result = patch_pca_rgb(grid, foreground_pca=foreground_pca)
    assert result.rgb.shape == (2, 6, 6, 3) and result.foreground.shape == (2, 6, 6)
    np.testing.assert_array_equal(result.foreground, body)  # the border ring is background
    assert result.first_component[~body].max() < 0 < result.first_component[body].min()
    assert np.all(result.rgb[~body] == 0) and 0 < result.rgb[body].min() and result.rgb.max() < 1
    assert result.explained_variance_ratio.shape == (3,) and np.all(np.diff(result.explained_variance_ratio) <= 0)


def test_colours_match_a_numpy_whitened_pca_of_the_foreground():
    grid, body = _synthetic(seed=1)
    result = patch_pca_rgb(grid)
    x = grid.transpose(0, 2, 3, 1)[body]  # (M, D) foreground patches in the same row-major order
    expected = 1.0 / (1.0 + np.exp(-2.0 * _numpy_whitened_pca(x, 3)))
    got = result.rgb[body]
    for k in range(3):  # a principal component is defined up to its sign: sigmoid(-2z) = 1 - sigmoid(2z)
        flipped = np.corrcoef(got[:, k], expected[:, k])[0, 1] < 0
        np.testing.assert_allclose(got[:, k], 1.0 - expected[:, k] if flipped else expected[:, k], atol=1e-6)
    minmax = patch_pca_rgb(grid, scaling="minmax").rgb[body]
    np.testing.assert_allclose(minmax.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(minmax.max(axis=0), 1.0, atol=1e-12)


def test_an_image_and_its_copy_get_identical_colours(backbone, sample_images):
    from raddino_monai.visualize.runners import load_images

    images = load_images(sample_images[:2], size=56)
    grid = patch_features(backbone, torch.cat([images, images[:1]]))  # image 0, image 1, copy of image 0
    assert grid.shape == (3, backbone.embed_dim, 4, 4)
    for foreground_pca in ("per_image", "joint"):
        result = patch_pca_rgb(grid, foreground_pca=foreground_pca)
        np.testing.assert_array_equal(result.rgb[0], result.rgb[2])
        np.testing.assert_array_equal(result.foreground[0], result.foreground[2])
        assert 0.0 <= result.rgb.min() and result.rgb.max() <= 1.0


def test_no_threshold_keeps_every_patch_and_errors_are_clear():
    grid, _ = _synthetic()
    result = patch_pca_rgb(grid, background_threshold=None)
    assert result.foreground.all() and result.rgb.min() > 0
    with pytest.raises(ValueError, match="valid values"):
        patch_pca_rgb(grid, scaling="rainbow")
    with pytest.raises(ValueError, match="valid values"):
        patch_pca_rgb(grid, foreground_pca="global")
    with pytest.raises(ValueError, match=r"\(B, D, h, w\)"):
        patch_pca_rgb(grid[0])
    with pytest.raises(ValueError, match="lower the threshold"):
        patch_pca_rgb(grid, background_threshold=1e9)


def test_pca_png(backbone, sample_images, tmp_path, check_png):
    from raddino_monai.visualize.runners import load_images

    images = load_images(sample_images, size=56)
    result = patch_pca_rgb(patch_features(backbone, images))
    check_png(save_pca_png(images, result, tmp_path / "pca.png", [f"img{i}" for i in range(4)], "tiny"))

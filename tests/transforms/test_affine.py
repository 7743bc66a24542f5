"""RandIsotropicAffine(d): one content zoom for both axes (torchvision law), MONAI rotation / translation, seeding."""

from __future__ import annotations

import math

import pytest
import torch

from raddino_monai.transforms import RandIsotropicAffine, RandIsotropicAffined


def _square(size: int = 64, side: int = 16) -> torch.Tensor:
    img = torch.zeros(1, size, size)
    lo = (size - side) // 2
    img[0, lo : lo + side, lo : lo + side] = 1.0
    return img


@pytest.mark.parametrize("zoom", [0.5, 1.5, 2.0])
def test_zoom_magnifies_content_isotropically(zoom: float) -> None:
    out = RandIsotropicAffine(prob=1.0, zoom_range=(zoom, zoom)).set_random_state(0)(_square())[0]
    rows, cols = (out > 0.5).any(dim=1).sum().item(), (out > 0.5).any(dim=0).sum().item()
    assert rows == cols  # isotropic (MONAI's own scale_range draws each axis separately)
    assert rows == pytest.approx(16 * zoom, abs=2)


def test_parameter_ranges() -> None:
    t = RandIsotropicAffine(prob=1.0, rotate_range=math.radians(20), translate_range=(6.4, 6.4),
                            zoom_range=(0.95, 1.05)).set_random_state(0)
    zooms, angles, shifts = [], [], []
    for _ in range(400):
        t.randomize()
        grid = t.rand_affine_grid
        grid.randomize()  # MONAI redraws the grid in __call__; the grid draw is the one applied
        zooms.append(grid.zoom)
        angles.append(grid.rotate_params[0])
        shifts += list(grid.translate_params)
        assert grid.scale_params[0] == grid.scale_params[1] == pytest.approx(1 / grid.zoom)
    assert 0.95 <= min(zooms) and max(zooms) <= 1.05 and max(zooms) - min(zooms) > 0.09
    assert max(abs(a) for a in angles) <= math.radians(20) and max(abs(a) for a in angles) > math.radians(19)
    assert max(abs(s) for s in shifts) <= 6.4 and max(abs(s) for s in shifts) > 6.0


def test_seeding_and_dictionary_version() -> None:
    img = torch.rand(1, 32, 32)
    kwargs = {"prob": 1.0, "rotate_range": 0.3, "translate_range": (3, 3), "zoom_range": (0.9, 1.1)}
    a = RandIsotropicAffined("image", **kwargs).set_random_state(2)({"image": img})["image"]
    b = RandIsotropicAffined("image", **kwargs).set_random_state(2)({"image": img})["image"]
    c = RandIsotropicAffined("image", **kwargs).set_random_state(3)({"image": img})["image"]
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    zoomed = RandIsotropicAffined("image", prob=1.0, zoom_range=(2.0, 2.0)).set_random_state(0)({"image": _square()})
    assert (zoomed["image"][0] > 0.5).any(dim=1).sum().item() == pytest.approx(32, abs=2)


def test_bad_zoom() -> None:
    with pytest.raises(ValueError, match="zoom_range"):
        RandIsotropicAffine(zoom_range=(1.1, 0.9))

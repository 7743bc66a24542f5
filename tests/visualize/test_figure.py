"""Shared figure helpers: greyscale display range, PNG writing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from raddino_monai.visualize.figure import agg_pyplot, display_image, save_figure


def test_display_image_is_min_max_scaled_first_channel():
    image = torch.stack([torch.linspace(-2, 3, 12).reshape(3, 4), torch.zeros(3, 4), torch.ones(3, 4)])
    grey = display_image(image)
    assert grey.shape == (3, 4) and grey.min() == 0.0 and grey.max() == 1.0
    np.testing.assert_allclose(grey.ravel(), np.linspace(0, 1, 12), atol=1e-6)
    assert np.all(display_image(np.full((5, 5), 7.0)) == 0)  # constant image: black, not NaN
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(H, W\)"):
        display_image(torch.zeros(1, 1, 2, 2))


def test_save_figure_writes_an_opaque_png(tmp_path):
    plt = agg_pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "sub" / "line.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGB"
    assert fig.number not in plt.get_fignums()  # the figure was closed (others of the test session may be open)
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="PNG"):
        save_figure(fig, tmp_path / "line.jpg")
    plt.close(fig)

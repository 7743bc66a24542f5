"""Fixtures for the figure tests: a tiny random-init backbone, sample images and a PNG check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.models import RadDinoBackbone, create_backbone


@pytest.fixture(scope="module")
def backbone() -> RadDinoBackbone:
    """Random-init ViT (192 wide, 6 blocks, 3 heads, patch 14), eval mode, seed 0."""
    torch.manual_seed(0)
    return create_backbone("tiny_vit_p14").eval()


@pytest.fixture
def sample_images() -> list[str]:
    """Four 8-bit greyscale PNGs of the embedded sample data, sorted."""
    return [str(p) for p in sorted((sample_data_dir() / "images").glob("*.png"))[:4]]


def assert_png(path: Path, min_side: int = 150) -> np.ndarray:
    """``path`` is a PNG at least ``min_side`` px a side whose pixels are not all alike; returns them (RGB)."""
    assert Path(path).is_file(), path
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= min_side, image.size
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 10, f"{path} looks blank"
    return pixels


@pytest.fixture
def check_png():
    """:func:`assert_png` as a fixture."""
    return assert_png

"""Fixtures for embedding extraction tests: a tiny backbone and a few embedded sample images."""

from __future__ import annotations

import pytest

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.models import RadDinoBackbone, create_backbone


@pytest.fixture
def tiny_backbone() -> RadDinoBackbone:
    """Random-init ViT (192 wide, 6 blocks, patch 14, 112 px), eval mode."""
    return create_backbone("tiny_vit_p14").eval()


@pytest.fixture
def sample_paths() -> list[str]:
    """Five 8-bit greyscale PNGs from the embedded sample data, sorted."""
    return [str(p) for p in sorted((sample_data_dir() / "images").glob("*.png"))[:5]]

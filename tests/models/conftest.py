"""Fixtures for backbone and weight tests: tiny random-init backbones in eval mode."""

from __future__ import annotations

import pytest

from raddino_monai.models import RadDinoBackbone, create_backbone


@pytest.fixture
def tiny_p14() -> RadDinoBackbone:
    """Random-init ViT (192 wide, 6 blocks, patch 14, native 112 px), eval mode."""
    return create_backbone("tiny_vit_p14").eval()


@pytest.fixture
def tiny_p16() -> RadDinoBackbone:
    """Random-init ViT (192 wide, 6 blocks, patch 16, native 112 px), eval mode."""
    return create_backbone("tiny_vit_p16").eval()

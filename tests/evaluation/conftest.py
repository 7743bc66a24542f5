"""Fixtures for the evaluation tests: a tiny random-init backbone and small slices of the embedded sample data."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.models import create_backbone


@pytest.fixture
def tiny_backbone() -> torch.nn.Module:
    """tiny_vit_p14 (192 wide, 6 blocks), random init."""
    return create_backbone("tiny_vit_p14")


@pytest.fixture(scope="session")
def sample_items() -> dict[str, list[dict[str, Any]]]:
    """A few sample items per split (training has masks for the segmentation tests)."""
    train = load_sample_datalist("training")
    test = load_sample_datalist("test")
    with_mask = [it for it in train if it.get("mask")]
    return {"training": train[:12], "test": test[:6], "masked": with_mask[:6], "masked_test": with_mask[6:9]}

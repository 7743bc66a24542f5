"""Patch correspondence: the map peaks at the query for identical source and target; the PNG is written."""

from __future__ import annotations

import pytest
import torch

from raddino_monai.visualize.correspondence import patch_similarity, save_patch_similarity_png


def test_patch_similarity_is_one_at_the_query_on_the_same_image(backbone):
    image = torch.randn(3, 56, 56)
    sim = patch_similarity(backbone, image, image, (1, 2))
    assert tuple(sim.shape) == (4, 4)
    assert sim[1, 2] == pytest.approx(1.0, abs=1e-5)
    assert int(sim.argmax()) == 1 * 4 + 2  # the peak is at the query location
    assert float(sim.max()) <= 1.0 + 1e-5 and float(sim.min()) >= -1.0 - 1e-5
    with pytest.raises(ValueError, match="outside the source patch grid"):
        patch_similarity(backbone, image, image, (4, 0))


def test_patch_similarity_png(backbone, tmp_path, check_png):
    image = torch.randn(3, 56, 56)
    sim = patch_similarity(backbone, image, image, (0, 0))
    check_png(save_patch_similarity_png(image, image, sim, (0, 0), 14, tmp_path / "corr.png"))

"""Segmentation figure: example selection over the Dice ranking, overlay colours, the Dice in the figure equals the
evaluation's, the PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.evaluation import SegmentationConfig, build_segmentation_model, evaluate_segmentation
from raddino_monai.evaluation import segmentation_examples
from raddino_monai.evaluation.runners import load_encoder_backbone, load_splits
from raddino_monai.visualize.segmentation import (
    STRUCTURE_COLOURS,
    error_map,
    overlay,
    save_segmentation_figure,
    spread_by_rank,
)


def test_spread_by_rank_takes_the_worst_the_best_and_between():
    dice = [0.9, 0.1, 0.5, 0.7, 0.3]
    assert spread_by_rank(dice, 3) == [1, 2, 0]
    assert spread_by_rank(dice, 10) == [1, 4, 2, 3, 0]  # capped at the number of items, lowest first
    assert spread_by_rank(dice, 1) == [1] and spread_by_rank([], 3) == []


def test_overlay_and_error_colours():
    grey = np.zeros((2, 2))
    masks = np.array([[[1, 0], [0, 0]]])
    rgb = overlay(grey, masks, alpha=1.0)
    np.testing.assert_allclose(rgb[0, 0], STRUCTURE_COLOURS[0])
    assert np.all(rgb[1, 1] == 0)
    target = np.array([[[1, 1], [0, 0]]])
    pred = np.array([[[1, 0], [1, 0]]])
    errors = error_map(grey, target, pred, alpha=1.0)
    assert errors[0, 0, 1] > errors[0, 0, 0]  # true positive: green
    assert errors[1, 0, 0] > errors[1, 0, 2]  # false positive: red
    assert errors[0, 1, 2] > errors[0, 1, 0]  # false negative: blue
    assert np.all(errors[1, 1] == 0)  # true negative: the (black) image


@pytest.fixture(scope="module")
def tiny_model():
    config = SegmentationConfig(head="linear", class_names=["background", "lung"], image_size=28, batch_size=8)
    return build_segmentation_model(load_encoder_backbone("tiny_vit_p14"), config), config


def test_the_figure_shows_the_evaluations_dice(tiny_model, tmp_path, check_png):
    model, config = tiny_model
    items = [it for it in load_splits(None)[1] if it.get("mask")][:5]
    per_image = evaluate_segmentation(model, items, config)["per_image"]
    examples = segmentation_examples(model, items, config)
    assert [e["image"] for e in examples] == [r["image"] for r in per_image]
    for example, row in zip(examples, per_image):
        assert example["input"].shape == (3, 28, 28) and example["target"].shape == (1, 28, 28)
        assert set(torch.unique(example["prediction"]).tolist()) <= {0.0, 1.0}
        assert float(example["dice"][0]) == pytest.approx(row["dice/lung"], abs=1e-6)
    check_png(save_segmentation_figure(examples[:3], config.scored_names, tmp_path / "seg.png", "linear head"))
    with pytest.raises(ValueError, match="do not match"):
        save_segmentation_figure(examples[:1], ["lung", "heart"], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="at least one"):
        save_segmentation_figure([], ["lung"], tmp_path / "none.png")

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from raddino_monai.evaluation.metrics import classification_metrics, dice_per_image, mean_std, summarise_runs

RNG = np.random.default_rng(0)


def test_multilabel_matches_sklearn() -> None:
    y = RNG.integers(0, 2, size=(40, 3))
    s = np.clip(y * 0.3 + RNG.random((40, 3)) * 0.7, 0, 1)
    m = classification_metrics(y, s, "multilabel", ["a", "b", "c"])
    for c, name in enumerate("abc"):
        assert m[f"auprc/{name}"] == pytest.approx(average_precision_score(y[:, c], s[:, c]))
        assert m[f"auroc/{name}"] == pytest.approx(roc_auc_score(y[:, c], s[:, c]))
    assert m["auprc"] == pytest.approx(average_precision_score(y, s, average="macro"))
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s, average="macro"))
    assert "accuracy" not in m


def test_multiclass_one_vs_rest_and_accuracy() -> None:
    y = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    s = RNG.random((8, 3))
    s /= s.sum(1, keepdims=True)
    m = classification_metrics(y, s, "multiclass", ["x", "y", "z"])
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s, multi_class="ovr", average="macro"))
    assert m["auprc/z"] == pytest.approx(average_precision_score(y == 2, s[:, 2]))
    assert m["accuracy"] == pytest.approx(float((s.argmax(1) == y).mean()))


def test_binary_and_undefined_class() -> None:
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0.2, 0.6, 0.4, 0.9]), "binary", ["pos"])
    assert m["auroc"] == pytest.approx(0.75) and m["accuracy"] == pytest.approx(0.5)
    y = np.array([[1, 0], [1, 1], [1, 0]])
    m = classification_metrics(y, RNG.random((3, 2)), "multilabel", ["always", "b"])
    assert math.isnan(m["auprc/always"]) and m["auprc"] == pytest.approx(m["auprc/b"])
    with pytest.raises(ValueError, match="valid values"):
        classification_metrics(y, y, "ordinal", ["a", "b"])


def test_mean_std_and_summary() -> None:
    assert mean_std([0.5]) == (0.5, 0.0)
    mean, std = mean_std([1.0, 2.0, 4.0, float("nan")])
    assert mean == pytest.approx(7 / 3) and std == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert summarise_runs([{"a": 1.0}, {"a": 3.0}])["a"][0] == 2.0


def test_dice_including_empty_masks() -> None:
    pred, target = torch.zeros(3, 1, 4, 4), torch.zeros(3, 1, 4, 4)
    pred[0, 0, :2], target[0, 0, :1] = 1, 1  # 2*4 / (8+4)
    pred[2, 0, 0, 0] = 1  # empty ground truth, one false positive
    dice = dice_per_image(pred, target)[:, 0]
    assert dice.tolist() == pytest.approx([8 / 12, 1.0, 0.0])

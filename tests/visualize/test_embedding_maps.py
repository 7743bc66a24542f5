"""Embedding maps: metadata labels (bins, unknown, other), 2-D projections, k-NN agreement, the PNG."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raddino_monai.visualize.embedding_maps import (
    knn_agreement,
    metadata_labels,
    project_2d,
    save_embedding_map_png,
)


def test_metadata_labels_bins_unknown_and_other():
    items = [{"age": 25}, {"age": 30.0}, {"age": None}, {"age": "80"}, {}]
    assert metadata_labels(items, "age") == ["age < 30", "age 30-45", "unknown", "age >= 75", "unknown"]
    views = [{"view": v} for v in ["PA", "PA", "AP", "LL", ""]]
    assert metadata_labels(views, "view", max_categories=2) == ["PA", "PA", "AP", "other", "unknown"]
    with pytest.raises(KeyError, match="keys found"):
        metadata_labels(views, "sex")
    with pytest.raises(ValueError, match="item 0"):
        metadata_labels([{"age": "old"}], "age")


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projections(method):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(15, 8)) + 4, rng.normal(size=(15, 8)) - 4])
    coords, (xlabel, ylabel) = project_2d(x, method)
    assert coords.shape == (30, 2) and np.isfinite(coords).all() and xlabel and ylabel
    # the two clusters separate along the first axis
    assert abs(coords[:15, 0].mean() - coords[15:, 0].mean()) > coords[:, 0].std()
    with pytest.raises(ValueError, match="valid values"):
        project_2d(x, "umap")


def test_pca_projection_is_the_numpy_top_two_components_of_normalised_features():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 5)) * [5, 3, 1, 0.5, 0.1]
    coords, (xlabel, _) = project_2d(x, "pca")
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    z = z - z.mean(0)
    values, vectors = np.linalg.eigh(z.T @ z)
    expected = z @ vectors[:, ::-1][:, :2]
    for k in range(2):
        assert abs(np.corrcoef(coords[:, k], expected[:, k])[0, 1]) > 1 - 1e-9
    assert f"{100 * values[-1] / values.sum():.1f} %" in xlabel


def test_knn_agreement_on_separated_groups():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=(10, 4)) + 10 * np.eye(4)[0], rng.normal(size=(10, 4)) + 10 * np.eye(4)[1]])
    labels = ["a"] * 10 + ["b"] * 10
    agreement, chance, k = knn_agreement(x, labels, k=5)
    assert agreement == 1.0 and chance == pytest.approx(2 * 10 * 9 / (20 * 19)) and k == 5
    assert math.isnan(knn_agreement(x, ["unknown"] * 19 + ["a"])[0])


def test_embedding_map_png(tmp_path, check_png):
    rng = np.random.default_rng(4)
    features = {"enc a": rng.normal(size=(12, 6)), "enc b": rng.normal(size=(12, 6))}
    labels = {"view": ["PA", "AP"] * 6, "sex": ["F", "M", "unknown"] * 4}
    check_png(save_embedding_map_png(features, labels, tmp_path / "map.png", "pca", k=3, title="t"))
    with pytest.raises(ValueError, match="other row counts"):
        save_embedding_map_png(features, {"view": ["PA"]}, tmp_path / "bad.png")

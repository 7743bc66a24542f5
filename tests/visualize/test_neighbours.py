"""Nearest neighbours by cosine similarity: an image's nearest neighbour in a set holding it is itself; precision@k."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.visualize.neighbours import (
    chance_precision,
    cosine_similarity,
    nearest_neighbours,
    precision_at_k,
    save_neighbour_grid_png,
)


def test_the_nearest_neighbour_of_an_image_in_a_set_that_holds_it_is_itself():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(20, 8))
    indices, sims = nearest_neighbours(gallery[[3, 11]] * 5.0, gallery, k=3)  # scale does not matter (cosine)
    assert indices[:, 0].tolist() == [3, 11]
    np.testing.assert_allclose(sims[:, 0], 1.0)
    assert np.all(np.diff(sims, axis=1) <= 0)  # most similar first


def test_neighbours_match_a_brute_force_numpy_ranking():
    rng = np.random.default_rng(1)
    queries, gallery = rng.normal(size=(4, 6)), rng.normal(size=(15, 6))
    exclude = np.zeros((4, 15), dtype=bool)
    exclude[:, :2] = True
    indices, sims = nearest_neighbours(queries, gallery, k=4, exclude=exclude)
    for q in range(4):
        cos = [float(queries[q] @ g / np.linalg.norm(queries[q]) / np.linalg.norm(g)) for g in gallery]
        ranking = [j for j in sorted(range(15), key=lambda j: -cos[j]) if j >= 2][:4]
        assert indices[q].tolist() == ranking
        np.testing.assert_allclose(sims[q], [cos[j] for j in ranking])
    np.testing.assert_allclose(cosine_similarity(queries, queries).diagonal(), 1.0)


def test_errors_name_the_problem():
    x = np.eye(3)
    with pytest.raises(ValueError, match="between 1 and 2"):
        nearest_neighbours(x, x, k=3, exclude=np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match="exclude must have shape"):
        nearest_neighbours(x, x, k=1, exclude=np.eye(2, dtype=bool))
    with pytest.raises(ValueError, match=r"\(Q, D\)"):
        nearest_neighbours(x, np.eye(4), k=1)


def test_precision_at_k_and_its_chance_level():
    labels = ["a", "a", "b", "b", "b"]
    indices = np.array([[1, 2], [0, 4], [3, 4], [0, 1], [2, 3]])
    # per query: a->(a, b) 1/2, a->(a, b) 1/2, b->(b, b) 1, b->(a, a) 0, b->(b, b) 1
    assert precision_at_k(labels, labels, indices) == pytest.approx((0.5 + 0.5 + 1 + 0 + 1) / 5)
    assert chance_precision(labels) == pytest.approx((2 * 1 + 3 * 2) / (5 * 4))


def test_neighbour_grid_png(tmp_path, check_png):
    images = [torch.rand(1, 40, 30) for _ in range(6)]
    path = save_neighbour_grid_png(images[:2], [images[2:4], images[4:6]], ["PA", "AP"], [["PA", "AP"], ["AP", "AP"]],
                                   np.array([[0.9, 0.8], [0.95, 0.7]]), tmp_path / "nn.png", "precision@2 = 0.75")
    check_png(path)

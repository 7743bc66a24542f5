"""Precision@k retrieval metric on hand-computed cases (ConVIRT 8x200 rule: hit = label match / positive label)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raddino_monai.evaluation.retrieval import (
    cosine_similarity,
    evaluate_retrieval,
    label_sets,
    precision_at_k,
    relevance_matrix,
    retrieval_records,
)

QUERIES = np.array([[1.0, 0.0], [0.0, 1.0]])
CANDIDATES = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
CANDIDATE_LABELS = ["A", "B", "A", "B", "A"]


def test_precision_at_k_by_hand() -> None:
    # q0 ranks c0 A, c1 B, c2 A, c3 B, c4 A; q1 ranks c3 B, c2 A, c1 B, then the tie c0 = c4 = 0 in candidate order
    result = evaluate_retrieval(QUERIES, CANDIDATES, ["A", "B"], CANDIDATE_LABELS, ks=(1, 2, 3, 5))
    np.testing.assert_allclose(result["per_query"][3], [2 / 3, 2 / 3])
    np.testing.assert_allclose(result["per_query"][5], [3 / 5, 2 / 5])
    assert result["precision"] == pytest.approx({1: 1.0, 2: 0.5, 3: 2 / 3, 5: 0.5})
    assert result["precision_std"][5] == pytest.approx(0.1)
    assert result["per_class"] == {"A": pytest.approx({1: 1.0, 2: 0.5, 3: 2 / 3, 5: 0.6}),
                                   "B": pytest.approx({1: 1.0, 2: 0.5, 3: 2 / 3, 5: 0.4})}
    assert (result["n_queries"], result["n_candidates"], result["query_classes"]) == (2, 5, ["A", "B"])


def test_cosine_not_dot_product() -> None:
    # c1 is long but points away from the query: a dot product would rank it first, the cosine last
    queries, candidates = np.array([[1.0, 0.0]]), np.array([[1.0, 0.1], [10.0, 9.0], [2.0, 0.1]])
    sims = cosine_similarity(queries, candidates)
    assert sims[0, 1] == pytest.approx(10 / math.sqrt(181))
    assert precision_at_k(sims, np.array([[True, False, True]]), ks=(2,))[2].tolist() == [1.0]


def test_multi_label_candidates_follow_the_convirt_rule() -> None:
    # the Edema query: a candidate is a hit when it is positive for Edema, whatever its other labels
    query, candidates = np.array([[1.0, 0.0]]), np.array([[0.9, 0.1], [1.0, 0.0], [0.0, 1.0]])
    labels = [["Edema", "Pleural Effusion"], ["Pleural Effusion"], []]
    result = evaluate_retrieval(query, candidates, ["Edema"], labels, ks=(1, 2, 3))
    assert result["precision"] == pytest.approx({1: 0.0, 2: 0.5, 3: 1 / 3})
    multi_hot = np.array([[1, 1], [0, 1], [0, 0]])  # columns: 0 = Edema, 1 = Pleural Effusion
    assert evaluate_retrieval(query, candidates, [0], multi_hot, ks=(1, 2, 3))["precision"] == result["precision"]


def test_label_forms() -> None:
    assert [sorted(s) for s in label_sets(["a", ["a", "b"], ("c",), 3])] == [["a"], ["a", "b"], ["c"], [3]]
    assert relevance_matrix([["a", "b"], "c"], ["b", "c", "d"]).tolist() == [[True, False, False],
                                                                             [False, True, False]]
    with pytest.raises(ValueError, match="0/1 multi-hot"):
        label_sets(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="not hashable"):
        label_sets([{"a": 1}])


def test_group_exclusion_leave_one_out() -> None:
    # e0 (A) and e1 (B) belong to patient p1; with patient exclusion q0 must skip e1 and retrieve e3 (A)
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.7, 0.7], [0.8, 0.2]])
    labels, ids, patients = ["A", "B", "B", "A"], ["e0", "e1", "e2", "e3"], ["p1", "p1", "p2", "p3"]
    by_image = evaluate_retrieval(emb, emb, labels, labels, ks=(1,), query_groups=ids, candidate_groups=ids)
    by_patient = evaluate_retrieval(emb, emb, labels, labels, ks=(1,), query_groups=patients,
                                    candidate_groups=patients)
    assert by_image["per_query"][1][0] == 0.0 and by_patient["per_query"][1][0] == 1.0
    # cosines: e0.e1 0.994, e0.e2 0.707, e0.e3 0.970, e1.e2 0.781, e1.e3 0.991, e2.e3 0.857. By patient:
    # q0 -> e3 (A) hit; q1 -> e3 (A) miss; q2 -> e3 (A) miss; q3 -> e1 (B) miss
    np.testing.assert_allclose(by_patient["per_query"][1], [1.0, 0.0, 0.0, 0.0])
    # by image (only itself excluded): q0 -> e1 (B), q1 -> e0 (A), q2 -> e3 (A), q3 -> e1 (B): all misses
    np.testing.assert_allclose(by_image["per_query"][1], [0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"k in \[1, 2\]"):
        evaluate_retrieval(emb, emb, labels, labels, ks=(3,), query_groups=patients, candidate_groups=patients)


def test_records() -> None:
    result = evaluate_retrieval(QUERIES, CANDIDATES, ["A", "B"], CANDIDATE_LABELS, ks=(1, 5))
    records = retrieval_records("enc", "image_to_image", result)
    assert [(r["metric"], r["mean"], r["n"]) for r in records] == [("precision@1", 1.0, 2), ("precision@5", 0.5, 2)]
    per_class = retrieval_records("enc", "image_to_image", result, per_class=True)[2:]
    assert {(r["setting"], r["metric"], r["n"]) for r in per_class} >= {("image_to_image / A", "precision@5", 1)}
    with pytest.raises(ValueError, match="valid values"):
        retrieval_records("enc", "text_to_text", result)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ks": (6,)}, r"k in \[1, 5\]"),
        ({"ks": ()}, "non-empty"),
        ({"query_labels": ["A"]}, "one label per query"),
        ({"query_embeddings": np.array([[np.nan, 0.0], [0.0, 1.0]])}, "NaN"),
        ({"candidate_embeddings": np.ones((5, 3))}, "one D"),
        ({"query_groups": ["x", "y"]}, "together"),
    ],
)
def test_bad_inputs(kwargs: dict, match: str) -> None:
    args = {"query_embeddings": QUERIES, "candidate_embeddings": CANDIDATES, "query_labels": ["A", "B"],
            "candidate_labels": CANDIDATE_LABELS, **kwargs}
    with pytest.raises(ValueError, match=match):
        evaluate_retrieval(**args)

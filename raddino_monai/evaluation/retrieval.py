"""Zero-shot retrieval with Precision@k (ConVIRT's CheXpert 8x200 protocol), from embedding matrices and labels.

Protocol ([PAPER-CV] §4, [CV-DATA] README): every query (an image, or an expert-written sentence) ranks all
candidate images by cosine similarity of their embeddings; a retrieved candidate is a hit when its label matches the
query's (for the multi-label CheXpert candidates: when the candidate is positive for the query's category);
Precision@k is the fraction of hits among the top k, averaged over the queries ([PAPER-CV] reports k = 5, 10, 50).

The same function serves every direction, only the embeddings change:

* image -> image: query and candidate *image* embeddings from one encoder (any frozen encoder; for ConVIRT the
  encoder representation ``h_v``, without projection, as in [PAPER-CV]);
* text -> image: projected text embeddings ``u`` of the queries against projected image embeddings ``v``;
* image -> text: projected image embeddings against projected text embeddings of candidate sentences.

Labels: a query or candidate label is one hashable value (``"Atelectasis"``, ``3``) or a collection of them (a
multi-label item, positive for each); a 2-D numeric array is read as a multi-hot matrix (a row's labels are its
columns with value 1). A candidate is relevant to a query when their label sets intersect. Ranking is by decreasing
cosine similarity, ties broken by candidate order. Queries may exclude candidates of the same *group* (the query
image itself, or every image of the same patient, when queries are drawn from the candidates).

References:
    - [PAPER-CV] Zhang et al., arXiv 2010.00747.
    - [CV-DATA] yuhaozhang/convirt @ cf6add8 (the 8x200 query / candidate CSVs and their evaluation rule).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_KS",
    "RETRIEVAL_DIRECTIONS",
    "label_sets",
    "relevance_matrix",
    "cosine_similarity",
    "rank_candidates",
    "precision_at_k",
    "evaluate_retrieval",
    "retrieval_records",
]

#: [PAPER-CV] retrieval table: Precision@5, @10, @50
DEFAULT_KS: tuple[int, ...] = (5, 10, 50)

#: query modality -> candidate modality, the three directions of [PAPER-CV] / issue 14
RETRIEVAL_DIRECTIONS: dict[str, tuple[str, str]] = {
    "image_to_image": ("image", "image"),
    "text_to_image": ("text", "image"),
    "image_to_text": ("image", "text"),
}


def label_sets(labels: Sequence[Any] | np.ndarray) -> list[frozenset[Hashable]]:
    """Normalise labels to one ``frozenset`` per item (see the module docstring for the accepted forms).

    Example:
        >>> [sorted(s) for s in label_sets(["a", ["b", "a"], 2])]
        [['a'], ['a', 'b'], [2]]
        >>> label_sets(np.array([[1, 0, 1], [0, 0, 0]]))
        [frozenset({0, 2}), frozenset()]

    Raises:
        ValueError: a 2-D array that is not 0/1, or an unhashable label.
    """
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("a 2-D label array must be a 0/1 multi-hot matrix (N, C).")
        return [frozenset(int(c) for c in np.flatnonzero(row)) for row in labels]
    out = []
    for i, label in enumerate(labels.tolist() if isinstance(labels, np.ndarray) else labels):
        members: Iterable[Any] = label if isinstance(label, (list, tuple, set, frozenset)) else [label]
        try:
            out.append(frozenset(members))
        except TypeError as err:
            raise ValueError(f"label of item {i} is not hashable: {label!r}") from err
    return out


def relevance_matrix(query_labels: Sequence[Any] | np.ndarray, candidate_labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """``(Q, N)`` bool: candidate ``n`` is relevant to query ``q`` when their label sets intersect."""
    queries, candidates = label_sets(query_labels), label_sets(candidate_labels)
    return np.array([[bool(q & c) for c in candidates] for q in queries], dtype=bool).reshape(len(queries), -1)


def cosine_similarity(queries: np.ndarray, candidates: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``(Q, D), (N, D) -> (Q, N)`` float64 cosine similarities.

    Raises:
        ValueError: not 2-D, different widths, or non-finite values.
    """
    q, c = np.asarray(queries, dtype=np.float64), np.asarray(candidates, dtype=np.float64)
    if q.ndim != 2 or c.ndim != 2 or q.shape[1] != c.shape[1]:
        raise ValueError(f"embeddings must be (Q, D) and (N, D) with one D, found {q.shape} and {c.shape}.")
    if not (np.isfinite(q).all() and np.isfinite(c).all()):
        raise ValueError("embeddings contain NaN or infinite values.")
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), eps)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), eps)
    return q @ c.T


def rank_candidates(similarity: np.ndarray, exclude: np.ndarray | None = None) -> list[np.ndarray]:
    """Candidate indices of each query by decreasing similarity (stable: ties keep candidate order).

    Args:
        similarity: ``(Q, N)``.
        exclude: optional ``(Q, N)`` bool; excluded candidates are left out of that query's ranking.

    Returns:
        one index array per query.
    """
    order = np.argsort(-similarity, axis=1, kind="stable")
    if exclude is None:
        return list(order)
    return [row[~exclude[q, row]] for q, row in enumerate(order)]


def precision_at_k(
    similarity: np.ndarray, relevance: np.ndarray, ks: Sequence[int] = DEFAULT_KS, exclude: np.ndarray | None = None
) -> dict[int, np.ndarray]:
    """Per-query Precision@k: hits among the top ``k`` ranked candidates, divided by ``k``.

    Args:
        similarity: ``(Q, N)`` query-candidate similarities.
        relevance: ``(Q, N)`` bool, True where the candidate is a hit for the query.
        ks: cut-offs, each ``1 <= k <=`` the number of candidates every query may retrieve.
        exclude: optional ``(Q, N)`` bool of candidates a query may not retrieve.

    Returns:
        ``{k: (Q,) float64}``.

    Raises:
        ValueError: shape mismatch, or a ``k`` outside ``[1, eligible candidates]`` (the valid range is given).
    """
    if similarity.shape != relevance.shape or (exclude is not None and exclude.shape != similarity.shape):
        raise ValueError(
            f"similarity {similarity.shape}, relevance {relevance.shape} and exclude "
            f"{None if exclude is None else exclude.shape} must have the same (Q, N) shape."
        )
    ranked = rank_candidates(similarity, exclude)
    eligible = min((len(r) for r in ranked), default=0)
    bad = [k for k in ks if not 1 <= int(k) <= eligible]
    if bad or not ks:
        raise ValueError(f"ks must be non-empty with each k in [1, {eligible}] (candidates per query), found {list(ks)}.")
    return {int(k): np.array([relevance[q, r[: int(k)]].sum() / int(k) for q, r in enumerate(ranked)]) for k in ks}


def _group_exclusion(query_groups: Sequence[Hashable] | None, candidate_groups: Sequence[Hashable] | None,
                     n_queries: int, n_candidates: int) -> np.ndarray | None:
    if query_groups is None and candidate_groups is None:
        return None
    if query_groups is None or candidate_groups is None:
        raise ValueError("query_groups and candidate_groups must be given together (or neither).")
    if len(query_groups) != n_queries or len(candidate_groups) != n_candidates:
        raise ValueError(
            f"need one group per query ({n_queries}) and per candidate ({n_candidates}), found "
            f"{len(query_groups)} and {len(candidate_groups)}."
        )
    qg, cg = np.asarray(list(query_groups), dtype=object), np.asarray(list(candidate_groups), dtype=object)
    return qg[:, None] == cg[None, :]


def evaluate_retrieval(
    query_embeddings: np.ndarray,
    candidate_embeddings: np.ndarray,
    query_labels: Sequence[Any] | np.ndarray,
    candidate_labels: Sequence[Any] | np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    query_groups: Sequence[Hashable] | None = None,
    candidate_groups: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
    """Precision@k of one retrieval direction.

    Args:
        query_embeddings: ``(Q, D)`` query embeddings (images or sentences).
        candidate_embeddings: ``(N, D)`` candidate embeddings, same space as the queries.
        query_labels: ``Q`` labels (one value or a collection per query, or a ``(Q, C)`` multi-hot array).
        candidate_labels: ``N`` labels (same forms).
        ks: Precision@k cut-offs ([PAPER-CV] 5, 10, 50).
        query_groups, candidate_groups: optional group of each query / candidate (image id, patient id); a query
            never retrieves a candidate of its own group.

    Returns:
        ``{"precision": {k: mean over queries}, "precision_std": {k: std over queries}, "per_query": {k: (Q,)},
        "per_class": {class: {k: mean over that class's queries}}, "query_classes": [class of each query],
        "n_queries", "n_candidates"}``; a query's class is its label (labels joined with ``"|"`` when several).

    Raises:
        ValueError: inconsistent lengths or shapes, invalid ``ks`` (valid range given), non-finite embeddings.

    Example:
        >>> q, c = np.eye(2), np.array([[1.0, 0.1], [0.9, 0.0], [0.0, 1.0]])
        >>> evaluate_retrieval(q, c, ["a", "b"], ["a", "a", "b"], ks=(1, 2))["precision"]
        {1: 1.0, 2: 0.75}
    """
    similarity = cosine_similarity(query_embeddings, candidate_embeddings)
    queries, candidates = label_sets(query_labels), label_sets(candidate_labels)
    if len(queries) != similarity.shape[0] or len(candidates) != similarity.shape[1]:
        raise ValueError(
            f"need one label per query ({similarity.shape[0]}) and per candidate ({similarity.shape[1]}), found "
            f"{len(queries)} and {len(candidates)}."
        )
    relevance = relevance_matrix(queries, candidates)
    exclude = _group_exclusion(query_groups, candidate_groups, *similarity.shape)
    per_query = precision_at_k(similarity, relevance, ks, exclude)
    classes = ["|".join(sorted(map(str, q))) for q in queries]
    per_class = {
        name: {k: float(v[[c == name for c in classes]].mean()) for k, v in per_query.items()}
        for name in sorted(set(classes))
    }
    return {
        "precision": {k: float(v.mean()) for k, v in per_query.items()},
        "precision_std": {k: float(v.std()) for k, v in per_query.items()},
        "per_query": per_query,
        "per_class": per_class,
        "query_classes": classes,
        "n_queries": int(similarity.shape[0]),
        "n_candidates": int(similarity.shape[1]),
    }


def retrieval_records(
    encoder: str, direction: str, result: dict[str, Any], per_class: bool = False
) -> list[dict[str, Any]]:
    """Result-table records (:mod:`raddino_monai.evaluation.tables`): one per k (mean and std over queries).

    Args:
        encoder: encoder label (table row).
        direction: a key of :data:`RETRIEVAL_DIRECTIONS`.
        result: :func:`evaluate_retrieval` output.
        per_class: add one record per query class and k (setting ``"<direction> / <class>"``).

    Raises:
        ValueError: unknown ``direction`` (valid values listed).
    """
    if direction not in RETRIEVAL_DIRECTIONS:
        raise ValueError(f"Unknown retrieval direction {direction!r}; valid values are {list(RETRIEVAL_DIRECTIONS)}.")
    n = result["n_queries"]
    records = [
        {"encoder": encoder, "task": "retrieval", "setting": direction, "metric": f"precision@{k}", "mean": mean,
         "std": result["precision_std"][k], "n": n}
        for k, mean in result["precision"].items()
    ]
    if not per_class:
        return records
    records += [
        {"encoder": encoder, "task": "retrieval", "setting": f"{direction} / {name}", "metric": f"precision@{k}",
         "mean": mean, "std": float("nan"), "n": result["query_classes"].count(name)}
        for name, values in result["per_class"].items()
        for k, mean in values.items()
    ]
    return records

"""Retrieval runs behind ``tools/retrieval.py``: query / candidate sets, embedders, results files.

Query and candidate sets come from

* a datalist with ``query`` and ``candidate`` sections (names configurable), or, without them, every labelled item
  querying all the others (leave-one-out; by default a query never retrieves images of its own patient);
* the CheXpert 8x200 sets of [CV-DATA] (``image-retrieval/`` or ``text-retrieval/`` folder with ``query.csv`` and
  ``candidate.csv``) and the folder the CheXpert images live in (:func:`read_convirt_retrieval_set`).

Embeddings come from *embedders*, one per modality: ``Callable[[list of items], ndarray (n, D)]``.
:func:`frozen_image_embedder` wraps :func:`raddino_monai.inference.extract_embeddings` for any encoder spec
(``arch`` or ``arch:weights``), which is all image -> image retrieval needs. Text -> image and image -> text need the
projected image and text embedders of a ConVIRT checkpoint: :func:`run_retrieval` takes them as ``embedders``
(``{"image": ..., "text": ...}``) and ``direction``, so they plug in without changing this module.

References:
    - [PAPER-CV] Zhang et al., arXiv 2010.00747.
    - [CV-DATA] yuhaozhang/convirt @ cf6add8 (``query.csv``: ``Variable,Path`` or ``Variable,Text``;
      ``candidate.csv``: ``Path,Sex,Age,Frontal/Lateral,AP/PA,<14 CheXpert labels>``).
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raddino_monai.data.datalist import load_datalist
from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.inference import extract_embeddings, load_embeddings

from .retrieval import DEFAULT_KS, RETRIEVAL_DIRECTIONS, evaluate_retrieval, retrieval_records
from .runners import parse_encoder
from .tables import write_csv, write_results

__all__ = [
    "Embedder",
    "RetrievalConfig",
    "read_convirt_retrieval_set",
    "datalist_retrieval_sets",
    "frozen_image_embedder",
    "run_retrieval",
    "image_retrieval_job",
]

#: items (dicts with ``"image"`` paths or ``"text"`` sentences) -> ``(len(items), D)`` embeddings
Embedder = Callable[[Sequence[Mapping[str, Any]]], np.ndarray]


@dataclass
class RetrievalConfig:
    """Settings of a retrieval run; every field is a ``tools/retrieval.py`` option."""

    ks: tuple[int, ...] = DEFAULT_KS  # [PAPER-CV] Precision@5, @10, @50
    label_key: str = "label"  # datalist key holding each item's category (value or list of values)
    pooling: str = "cls"  # frozen image embedding: "cls" or "mean" patch token (raddino_monai.inference.POOLINGS)
    query_split: str = "query"  # datalist section of the queries (else: leave-one-out over all items)
    candidate_split: str = "candidate"  # datalist section of the candidates
    exclude_same_patient: bool = True  # a query never retrieves images of its own patient (needs patient_id)
    image_size: int | None = None  # preprocessing side; None = the backbone's
    fit: str = "crop"  # raddino_preprocessing fit ("crop", "pad", "resize")
    batch_size: int = 16  # images per forward pass
    device: str = "cpu"  # torch device
    num_workers: int = 0  # DataLoader workers

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (written to ``config.json``)."""
        return dataclasses.asdict(self)


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"retrieval set file {path} does not exist.")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(required)}, found {reader.fieldnames}.")
    return rows


def _positive(value: str) -> bool:
    try:
        return float(value) == 1.0  # CheXpert: 1 positive, 0 negative, -1 uncertain, "" unmentioned
    except ValueError:
        return False


def read_convirt_retrieval_set(
    folder: str | Path, image_root: str | Path | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Queries and candidates of one [CV-DATA] folder (``image-retrieval/`` or ``text-retrieval/``).

    Args:
        folder: the folder holding ``query.csv`` and ``candidate.csv``.
        image_root: folder the CSV image paths are relative to (the CheXpert download folder, which contains
            ``CheXpert-v1.0-small/``); ``None`` = ``folder``.

    Returns:
        ``(queries, candidates)``: queries ``{"id", "label", "image"}`` (image queries) or ``{"id", "label",
        "text"}`` (text queries); candidates ``{"id", "image", "label": [categories the image is positive for]}``,
        the categories being the queries' ``Variable`` values.

    Raises:
        FileNotFoundError: a CSV is missing.
        ValueError: missing columns (expected and found listed), or a query category without a candidate column.
    """
    folder = Path(folder)
    root = Path(image_root) if image_root is not None else folder
    query_rows = _read_csv(folder / "query.csv", ["Variable"])
    kind = "image" if "Path" in query_rows[0] else "text" if "Text" in query_rows[0] else None
    if kind is None:
        raise ValueError(f"{folder / 'query.csv'}: expected a 'Path' (image queries) or 'Text' column.")
    categories = sorted({r["Variable"] for r in query_rows})
    candidate_rows = _read_csv(folder / "candidate.csv", ["Path", *categories])
    queries = [
        {"id": r["Path"], "label": r["Variable"], "image": str(root / r["Path"])} if kind == "image"
        else {"id": f"text_query_{i}", "label": r["Variable"], "text": r["Text"]}
        for i, r in enumerate(query_rows)
    ]
    candidates = [
        {"id": r["Path"], "image": str(root / r["Path"]), "label": [c for c in categories if _positive(r[c])]}
        for r in candidate_rows
    ]
    return queries, candidates


def datalist_retrieval_sets(
    datalist: str | Path | None, config: RetrievalConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Queries and candidates from a datalist (sections ``config.query_split`` / ``candidate_split``, else
    leave-one-out over all items); ``None`` = the embedded sample data.

    Returns:
        ``(queries, candidates, leave_one_out)``; items get an ``"id"`` (their image path) if they have none.

    Raises:
        ValueError: items without ``config.label_key`` (the first ones named).
    """
    path = Path(datalist) if datalist is not None else sample_datalist_path()
    items = [{"id": str(it.get("id", it["image"])), **it} for it in load_datalist(path)]
    unlabelled = [it["id"] for it in items if it.get(config.label_key) in (None, "", [])]
    if unlabelled:
        raise ValueError(
            f"{path}: {len(unlabelled)} item(s) have no {config.label_key!r} (retrieval needs a category per image), "
            f"e.g. {unlabelled[:3]}."
        )
    for it in items:
        it["label"] = it[config.label_key]
    sections = {it.get("split") for it in items}
    if {config.query_split, config.candidate_split} <= sections:
        return ([it for it in items if it["split"] == config.query_split],
                [it for it in items if it["split"] == config.candidate_split], False)
    return items, items, True


def frozen_image_embedder(encoder: str, out_path: str | Path, config: RetrievalConfig) -> Embedder:
    """Embedder of image items with a frozen encoder spec (``arch`` or ``arch:weights``), through
    :func:`raddino_monai.inference.extract_embeddings` (resumable; results kept in ``out_path``)."""
    _, arch, weights = parse_encoder(encoder)

    def embed(items: Sequence[Mapping[str, Any]]) -> np.ndarray:
        paths = [str(it["image"]) for it in items]
        unique = list(dict.fromkeys(paths))
        extract_embeddings(
            unique, out_path, arch=arch, weights=weights, pooling=[config.pooling],
            batch_size=config.batch_size, device=config.device, image_size=config.image_size, fit=config.fit,
            num_workers=config.num_workers,
        )
        stored = load_embeddings(out_path)
        row = {i: n for n, i in enumerate(stored["ids"])}
        return np.asarray(stored[config.pooling])[[row[p] for p in paths]]

    return embed


def _groups(items: Sequence[Mapping[str, Any]], by_patient: bool) -> list[str]:
    return [str(it["patient_id"]) if by_patient and it.get("patient_id") not in (None, "") else str(it["id"])
            for it in items]


def run_retrieval(
    queries: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
    direction: str,
    embedders: Mapping[str, Embedder],
    ks: Sequence[int] = DEFAULT_KS,
    exclude_same_patient: bool = True,
) -> dict[str, Any]:
    """Embed queries and candidates with the embedders of their modalities and compute Precision@k.

    Args:
        queries: items with ``"label"`` and ``"image"`` or ``"text"`` (the direction's query modality).
        candidates: items with ``"label"`` and the candidate modality.
        direction: a key of :data:`~raddino_monai.evaluation.retrieval.RETRIEVAL_DIRECTIONS`.
        embedders: ``{"image": Embedder, "text": Embedder}`` (only the modalities the direction uses).
        ks: Precision@k cut-offs.
        exclude_same_patient: a query skips candidates of its own patient (``patient_id``); a query never retrieves
            itself (same ``"id"``) in any case.

    Returns:
        :func:`~raddino_monai.evaluation.retrieval.evaluate_retrieval` output plus ``"query_ids"``.

    Raises:
        ValueError: unknown direction, or a missing embedder (valid values listed).
    """
    if direction not in RETRIEVAL_DIRECTIONS:
        raise ValueError(f"Unknown retrieval direction {direction!r}; valid values are {list(RETRIEVAL_DIRECTIONS)}.")
    query_kind, candidate_kind = RETRIEVAL_DIRECTIONS[direction]
    missing = sorted({query_kind, candidate_kind} - set(embedders))
    if missing:
        raise ValueError(f"direction {direction!r} needs embedders for {missing}; given {sorted(embedders)}.")
    if query_kind == candidate_kind:  # one pass over both sets (they often overlap: leave-one-out)
        both = embedders[query_kind]([*queries, *candidates])
        query_emb, candidate_emb = both[: len(queries)], both[len(queries) :]
    else:
        query_emb, candidate_emb = embedders[query_kind](queries), embedders[candidate_kind](candidates)
    result = evaluate_retrieval(
        query_emb, candidate_emb,
        [q["label"] for q in queries], [c["label"] for c in candidates], ks,
        query_groups=_groups(queries, exclude_same_patient), candidate_groups=_groups(candidates, exclude_same_patient),
    )
    result["query_ids"] = [str(q["id"]) for q in queries]
    return result


def image_retrieval_job(
    encoder: str,
    output_dir: str | Path,
    config: RetrievalConfig,
    datalist: str | Path | None = None,
    convirt_dir: str | Path | None = None,
    image_root: str | Path | None = None,
) -> dict[str, Any]:
    """Image -> image retrieval of one frozen encoder; writes ``results.{csv,md}``, ``per_class.csv``,
    ``per_query.csv``, ``config.json`` and ``embeddings.npz`` into ``output_dir``.

    Args:
        encoder: ``arch`` or ``arch:weights`` (:func:`raddino_monai.evaluation.runners.parse_encoder` format).
        output_dir: results folder.
        config: :class:`RetrievalConfig`.
        datalist: datalist with ``config.label_key`` (see :func:`datalist_retrieval_sets`); ``None`` and no
            ``convirt_dir`` = the embedded sample data.
        convirt_dir: a [CV-DATA] ``image-retrieval/`` folder instead of a datalist.
        image_root: where the [CV-DATA] image paths are relative to.

    Returns:
        ``{"result", "records", "files"}``.
    """
    out = Path(output_dir)
    if convirt_dir is not None:
        queries, candidates = read_convirt_retrieval_set(convirt_dir, image_root)
        source, leave_one_out = str(convirt_dir), False
    else:
        queries, candidates, leave_one_out = datalist_retrieval_sets(datalist, config)
        source = str(datalist or sample_datalist_path())
    embedder = frozen_image_embedder(encoder, out / "embeddings.npz", config)
    result = run_retrieval(queries, candidates, "image_to_image", {"image": embedder}, config.ks,
                           config.exclude_same_patient)
    label = parse_encoder(encoder)[0]
    records = retrieval_records(label, "image_to_image", result)
    files = write_results(records, out, {"encoder": encoder, "source": source, "leave_one_out": leave_one_out,
                                         "n_queries": result["n_queries"], "n_candidates": result["n_candidates"],
                                         **config.to_dict()})
    files["per_class"] = write_csv(retrieval_records(label, "image_to_image", result, per_class=True)[len(records):],
                                   out / "per_class.csv")
    per_query = [{"id": i, "class": c, **{f"precision@{k}": float(v[n]) for k, v in result["per_query"].items()}}
                 for n, (i, c) in enumerate(zip(result["query_ids"], result["query_classes"]))]
    files["per_query"] = write_csv(per_query, out / "per_query.csv")
    return {"result": result, "records": records, "files": files}

"""Path-level figure runs behind ``tools/visualize.py`` and ``tools/segment.py evaluate``: load images or a datalist,
build encoders, compute features through the public APIs, write PNG files.

Encoders are specs as in the evaluation tools, ``"arch"`` (random init, drawn with a fixed seed) or
``"arch:weights"`` (a local HF folder or checkpoint), built by
:func:`raddino_monai.evaluation.runners.load_encoder_backbone` (:func:`raddino_monai.models.create_backbone`); CLS
features of a datalist come from :func:`raddino_monai.inference.extract_embeddings`, or from files it wrote earlier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raddino_monai.data.datalist import load_datalist
from raddino_monai.evaluation import segmentation_examples
from raddino_monai.evaluation.runners import (
    load_encoder_backbone,
    load_segmentation_checkpoint,
    load_splits,
    parse_encoder,
)
from raddino_monai.inference import extract_embeddings, load_embeddings, resolve_inputs
from raddino_monai.models import RadDinoBackbone
from raddino_monai.transforms import LoadCXR, raddino_preprocessing_array
from raddino_monai.visualize.attention import (
    DEFAULT_MASS,
    cls_attention,
    cls_attention_grid,
    save_attention_png,
    top_mass_mask,
)
from raddino_monai.visualize.correspondence import patch_similarity, save_patch_similarity_png
from raddino_monai.visualize.embedding_maps import UNKNOWN, metadata_labels, save_embedding_map_png
from raddino_monai.visualize.neighbours import (
    chance_precision,
    nearest_neighbours,
    precision_at_k,
    save_neighbour_grid_png,
)
from raddino_monai.visualize.pca_maps import patch_features, patch_pca_rgb, save_pca_png
from raddino_monai.visualize.segmentation import save_segmentation_figure, spread_by_rank

__all__ = ["load_encoders", "load_images", "attention_job", "correspondence_job", "pca_job", "datalist_features",
           "embedding_map_job", "exclusion_mask", "neighbours_job", "segmentation_figure_job"]


def load_encoders(specs: Sequence[str]) -> dict[str, RadDinoBackbone]:
    """Label -> backbone for encoder specs; repeated labels get ``#2``, ``#3``... (random init is the same network)."""
    out: dict[str, RadDinoBackbone] = {}
    for spec in specs:
        label = parse_encoder(spec)[0]
        unique, n = label, 2
        while unique in out:
            unique, n = f"{label}#{n}", n + 1
        out[unique] = load_encoder_backbone(spec).eval()
    return out


def _size(backbone: RadDinoBackbone, image_size: int | None) -> int:
    return int(image_size or backbone.config.image_size)


def load_images(paths: Sequence[str | Path], size: int, fit: str = "crop") -> torch.Tensor:
    """``(B, 3, size, size)`` float32: ``LoadCXR`` + the RAD-DINO preprocessing (``fit``: crop, pad or resize)."""
    load, prep = LoadCXR(), raddino_preprocessing_array(size=size, fit=fit)
    return torch.stack([torch.as_tensor(prep(load(str(p)))).float() for p in paths])


def attention_job(image: str, out_path: str | Path, encoder: str = "raddino_vitb14", image_size: int | None = None,
                  fit: str = "crop", mass: float | None = DEFAULT_MASS, upsample: str = "nearest") -> Path:
    """CLS attention of one image at input resolution, per head, with the top-``mass`` masks (None: no masks)."""
    label, backbone = next(iter(load_encoders([encoder]).items()))
    x = load_images([image], _size(backbone, image_size), fit)[0]
    maps = cls_attention(backbone, x, mode=upsample)
    masks = None
    if mass is not None:
        grid = top_mass_mask(cls_attention_grid(backbone, x), mass).float()
        masks = torch.nn.functional.interpolate(grid[:, None], size=tuple(x.shape[-2:]), mode="nearest")[:, 0] > 0.5
    return save_attention_png(x, maps, out_path, f"{label}: last-block CLS attention of {Path(image).name}",
                              masks=masks, mass=mass or DEFAULT_MASS)


def correspondence_job(image: str, target: str, out_path: str | Path, encoder: str = "raddino_vitb14",
                       query: tuple[int, int] | None = None, image_size: int | None = None, fit: str = "crop") -> Path:
    """Cosine similarity of every patch of ``target`` to one query patch of ``image`` (default: the centre)."""
    _, backbone = next(iter(load_encoders([encoder]).items()))
    size = _size(backbone, image_size)
    src, tgt = load_images([image, target], size, fit)
    grid = size // backbone.patch_size
    q = (int(query[0]), int(query[1])) if query is not None else (grid // 2, grid // 2)
    return save_patch_similarity_png(src, tgt, patch_similarity(backbone, src, tgt, q), q, backbone.patch_size,
                                     out_path)


def pca_job(images: Sequence[str], out_path: str | Path, encoder: str = "raddino_vitb14",
            image_size: int | None = None, fit: str = "crop", background_threshold: float | None = 0.0,
            scaling: str = "sigmoid") -> Path:
    """PCA patch maps of a grid of images, one PCA across all of them (:mod:`.pca_maps`)."""
    label, backbone = next(iter(load_encoders([encoder]).items()))
    x = load_images(images, _size(backbone, image_size), fit)
    result = patch_pca_rgb(patch_features(backbone, x), background_threshold, scaling)
    return save_pca_png(x, result, out_path, [Path(p).name for p in images], title=label)


def datalist_features(
    datalist: str | Path, out_dir: str | Path, encoders: Sequence[str] = (), embeddings: Sequence[str] = (),
    split: str | Sequence[str] | None = None, image_size: int | None = None, fit: str = "crop",
    batch_size: int = 16, device: str = "cpu",
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Datalist items and, per encoder, their CLS features ``(N, D)`` in item order.

    Features come from :func:`~raddino_monai.inference.extract_embeddings` (written to
    ``<out_dir>/embeddings/<label>.npz``, extracted again on every run) for each spec in ``encoders``, and from
    earlier extraction files in ``embeddings`` (label = file stem; pass those files to plot again without a model).

    Raises:
        ValueError: neither encoders nor embeddings given, or an embedding file lacks images of the datalist (named).
    """
    if not encoders and not embeddings:
        raise ValueError("give encoder specs (encoders=[...]) and/or embedding files (embeddings=[...]).")
    items = load_datalist(datalist, split=split)
    ids, _ = resolve_inputs(datalist, split)
    features: dict[str, np.ndarray] = {}
    for label, backbone in load_encoders(list(encoders)).items():
        path = Path(out_dir) / "embeddings" / f"{label.replace('#', '_')}.npz"
        extract_embeddings(datalist, path, backbone=backbone, batch_size=batch_size, device=device, pooling=("cls",),
                           resume=False, image_size=image_size, fit=fit, split=split)
        features[label] = _aligned(load_embeddings(path), ids, path)
    for file in embeddings:
        features[Path(file).stem] = _aligned(load_embeddings(file), ids, Path(file))
    return items, features


def _aligned(emb: Mapping[str, Any], ids: Sequence[str], path: Path) -> np.ndarray:
    row = {i: n for n, i in enumerate(emb["ids"])}
    missing = [i for i in ids if i not in row]
    if missing:
        raise ValueError(f"{path}: {len(missing)} datalist images have no embedding, e.g. {missing[:5]}.")
    if "cls" not in emb:
        raise ValueError(f"{path}: no 'cls' array (found {sorted(k for k in emb if k not in ('ids', 'meta'))}).")
    return np.asarray(emb["cls"])[[row[i] for i in ids]]


def embedding_map_job(
    datalist: str | Path, out_dir: str | Path, encoders: Sequence[str] = (), embeddings: Sequence[str] = (),
    keys: Sequence[str] = ("view", "sex", "age", "finding"), methods: Sequence[str] = ("pca", "tsne"),
    split: str | Sequence[str] | None = None, image_size: int | None = None, fit: str = "crop", k: int = 10,
    batch_size: int = 16, device: str = "cpu",
) -> dict[str, Path]:
    """One PNG per projection method (``embedding_map_<method>.png``): rows = metadata keys, columns = encoders."""
    items, features = datalist_features(datalist, out_dir, encoders, embeddings, split, image_size, fit, batch_size,
                                        device)
    labels = {key: metadata_labels(items, key) for key in keys}
    name = Path(datalist).name
    return {m: save_embedding_map_png(features, labels, Path(out_dir) / f"embedding_map_{m}.png", m, k, title=name)
            for m in methods}


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and np.isnan(value))


def exclusion_mask(items: Sequence[Mapping[str, Any]], key: str | None) -> np.ndarray:
    """``(N, N)`` bool: True where item j may not be a neighbour of item i (itself, or the same non-empty ``key``).

    An item without a value for ``key`` excludes only itself.
    """
    groups = np.array([str(it[key]) if key and not _blank(it.get(key)) else f"\0item {i}"  # no real value looks so
                       for i, it in enumerate(items)], dtype=object)
    return (groups[:, None] == groups[None, :]) | np.eye(len(items), dtype=bool)


def _pick_queries(labels: Sequence[str], n: int) -> list[int]:
    """``n`` indices, one per label value in turn (most frequent value first), in datalist order within a value."""
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        if lab != UNKNOWN:
            by_label.setdefault(lab, []).append(i)
    queues = sorted(by_label.values(), key=len, reverse=True)
    picked: list[int] = []
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


def neighbours_job(
    datalist: str | Path, out_dir: str | Path, encoders: Sequence[str] = (), embeddings: Sequence[str] = (),
    label_key: str = "finding", k: int = 5, n_queries: int = 4, exclude_key: str | None = "patient_id",
    split: str | Sequence[str] | None = None, image_size: int | None = None, fit: str = "crop",
    batch_size: int = 16, device: str = "cpu",
) -> dict[str, Path]:
    """Nearest-neighbour grid per encoder (``neighbours_<label>.png``) with the same-label precision@k.

    Every image with a known ``label_key`` is a query for precision@k (leave-one-out: itself and, with
    ``exclude_key``, images sharing that key, e.g. the same patient, are never neighbours); ``n_queries`` of them,
    one per label value in turn, are drawn.
    """
    items, features = datalist_features(datalist, out_dir, encoders, embeddings, split, image_size, fit, batch_size,
                                        device)
    labels = metadata_labels(items, label_key)
    known = [i for i, lab in enumerate(labels) if lab != UNKNOWN]
    if len(known) <= k:
        raise ValueError(f"{len(known)} images have a known {label_key!r}; precision@{k} needs more than {k}.")
    exclude = exclusion_mask([items[i] for i in known], exclude_key)
    lab = [labels[i] for i in known]
    shown = _pick_queries(lab, n_queries)
    load = LoadCXR()
    written = {}
    for name, feats in features.items():
        indices, sims = nearest_neighbours(feats[known], feats[known], k, exclude=exclude)
        precision, chance = precision_at_k(lab, lab, indices), chance_precision(lab)
        images = {j: load(str(items[known[j]]["image"])) for j in {*shown, *indices[shown].ravel().tolist()}}
        excluded = f"itself and images with the same {exclude_key}" if exclude_key else "itself"
        title = (f"{name}: {k} nearest neighbours by CLS cosine similarity ({excluded} excluded)\n"
                 f"same-{label_key} precision@{k} = {precision:.3f} over {len(known)} queries (chance {chance:.3f}); "
                 "green = same label, red = other")
        written[name] = save_neighbour_grid_png(
            [images[j] for j in shown], [[images[int(m)] for m in indices[j]] for j in shown],
            [lab[j] for j in shown], [[lab[int(m)] for m in indices[j]] for j in shown], sims[shown],
            Path(out_dir) / f"neighbours_{name.replace('#', '_')}.png", title)
    return written


def segmentation_figure_job(
    checkpoint: str | Path, datalist: str | Path | None, out_path: str | Path, per_image: Sequence[Mapping[str, Any]],
    device: str = "cpu", split: str = "test", n_examples: int = 6,
) -> Path:
    """Segmentation figure of a saved head: ``n_examples`` images of ``split`` spread over the Dice ranking.

    Args:
        checkpoint: ``model.pt`` of ``tools/segment.py train``.
        datalist: the evaluated datalist (``None`` = the embedded sample data).
        out_path: output ``.png``.
        per_image: the per-image rows of :func:`raddino_monai.evaluation.evaluate_segmentation` (``"image"``,
            ``"dice"``), used to pick the examples.
        device: torch device.
        split: ``"training"`` or ``"test"``, as evaluated.
        n_examples: rows of the figure.

    Raises:
        ValueError: unknown split (valid values listed).
    """
    model, config, encoder = load_segmentation_checkpoint(checkpoint, device)
    config.device = device
    parts = dict(zip(("training", "test"), load_splits(datalist)))
    if split not in parts:
        raise ValueError(f"split={split!r}; valid values: {sorted(parts)}.")
    chosen = {str(per_image[i]["image"]) for i in spread_by_rank([float(r["dice"]) for r in per_image], n_examples)}
    items = [it for it in parts[split] if it.get("mask") and str(it["image"]) in chosen]
    examples = sorted(segmentation_examples(model, items, config), key=lambda e: float(e["dice"].mean()))
    return save_segmentation_figure(examples, config.scored_names, out_path,
                                    f"{config.head} head on {parse_encoder(encoder)[0]}")

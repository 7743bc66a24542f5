"""End-to-end evaluation runs behind the ``tools/`` CLIs: load data and encoder, run, write results.

Each runner writes into ``output_dir``: the resolved ``config.json``, ``results.csv`` + ``results.md`` (paper-style
table), per-run CSVs, and TensorBoard logs under ``tb/``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from raddino_monai.data.datalist import load_datalist, validate_datalist
from raddino_monai.data.sample import sample_datalist_path
from raddino_monai.data.splits import patient_split

from .augment import classification_transforms
from .features import FrozenEncoder
from .linear_probe import LinearProbeConfig, extract_features, run_linear_probe
from .metadata_probe import MetadataProbeConfig, run_metadata_probe
from .segmentation import (
    SegmentationConfig,
    build_segmentation_model,
    evaluate_segmentation,
    predict_segmentation,
    train_segmentation,
)
from .segmentation_model import FrozenSegmentationModel
from .tables import summary_records, write_csv, write_results

__all__ = ["parse_encoder", "load_encoder_backbone", "load_splits", "linear_probe_run", "metadata_probe_run",
           "segment_train_run", "segment_evaluate_run", "segment_predict_run", "save_segmentation_checkpoint",
           "load_segmentation_checkpoint"]


def parse_encoder(spec: str) -> tuple[str, str, str | None]:
    """``"arch"`` or ``"arch:weights_path"`` -> ``(label, arch, weights)``; the label is the weights' stem or arch.

    Example:
        >>> parse_encoder("raddino_vitb14:/models/rad-dino")
        ('rad-dino', 'raddino_vitb14', '/models/rad-dino')
    """
    arch, _, weights = spec.partition(":")
    weights = weights or None
    return (Path(weights).stem if weights else arch), arch, weights


def load_encoder_backbone(spec: str, init_seed: int = 0, **overrides: Any) -> torch.nn.Module:
    """Build the backbone of an encoder spec (:func:`parse_encoder`) with its local weights, if any.

    A spec without weights is a random-init baseline: it is drawn with ``init_seed`` (inside a forked RNG, so the
    caller's random state is untouched) and is therefore the same network in every task and every run.
    ``overrides`` are architecture fields for :func:`~raddino_monai.models.create_backbone` (e.g. LayerScale init).
    """
    from raddino_monai.models import create_backbone

    _, arch, weights = parse_encoder(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return create_backbone(arch, weights=weights, **overrides)


def load_splits(
    datalist: str | Path | None, seed: int = 0, train_split: str = "training", test_split: str = "test"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training and test items: the datalist's sections when present, else a patient-level 80/20 split (``seed``).

    Args:
        datalist: JSON/CSV datalist; ``None`` = the embedded sample data.
        seed: seed of the fallback patient split.
        train_split: training section name.
        test_split: test section name.

    Returns:
        ``(train_items, test_items)``, patient-disjoint.
    """
    path = Path(datalist) if datalist is not None else sample_datalist_path()
    items = load_datalist(path)
    sections = {it.get("split") for it in items}
    if {train_split, test_split} <= sections:
        return ([it for it in items if it.get("split") == train_split],
                [it for it in items if it.get("split") == test_split])
    parts = patient_split(items, {"training": 0.8, "test": 0.2}, seed=seed)
    return parts["training"], parts["test"]


def _writer(output_dir: Path) -> SummaryWriter:
    return SummaryWriter(str(output_dir / "tb"))


def linear_probe_run(
    encoder: str, datalist: str | Path | None, output_dir: str | Path, config: LinearProbeConfig
) -> dict[str, Any]:
    """Linear probes of one encoder; writes ``runs.csv``, ``results.{csv,md}``, ``config.json``, ``tb/``.

    Returns:
        the :func:`run_linear_probe` result plus ``"records"`` and ``"files"``.
    """
    out = Path(output_dir)
    label = parse_encoder(encoder)[0]
    train, test = load_splits(datalist)
    enc = FrozenEncoder(load_encoder_backbone(encoder), config.pooling, config.n_last_blocks)
    writer = _writer(out)
    result = run_linear_probe(enc, train, test, config, log=writer.add_scalar)
    writer.close()
    write_csv(result["runs"], out / "runs.csv")
    records = summary_records(label, "linear_probe", result["summary"], len(config.seeds),
                              metrics=["auprc", "auroc", "accuracy"])
    cfg = {"encoder": encoder, "datalist": str(datalist or sample_datalist_path()), **config.to_dict(),
           "classes": result["classes"]}
    result["records"], result["files"] = records, write_results(records, out, cfg)
    return result


def metadata_probe_run(
    encoder: str,
    datalist: str | Path | None,
    output_dir: str | Path,
    config: MetadataProbeConfig,
    pooling: str = "cls",
    image_size: int = 518,
    fit: str = "crop",
    batch_size: int = 32,
    device: str = "cpu",
) -> dict[str, Any]:
    """Metadata probes of one encoder on every datalist item; writes ``embeddings.npy``, results and config."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    label = parse_encoder(encoder)[0]
    items = load_datalist(Path(datalist) if datalist is not None else sample_datalist_path())
    enc = FrozenEncoder(load_encoder_backbone(encoder), pooling)
    feats = extract_features(enc, [str(it["image"]) for it in items],
                             classification_transforms(image_size, fit), batch_size, device).numpy()
    np.save(out / "embeddings.npy", feats)
    results = run_metadata_probe(feats, items, config)
    summary = {r["attribute"]: {"accuracy": (r["mean"], r["std"]), "auroc": (r["auroc_mean"], r["auroc_std"])}
               for r in results}
    records = summary_records(label, "metadata_probe", summary, config.n_splits)
    cfg = {"encoder": encoder, "datalist": str(datalist or sample_datalist_path()), "pooling": pooling,
           "image_size": image_size, "fit": fit, **config.to_dict()}
    (out / "folds.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return {"results": results, "records": records, "files": write_results(records, out, cfg)}


def save_segmentation_checkpoint(
    model: FrozenSegmentationModel, config: SegmentationConfig, encoder: str, path: str | Path
) -> Path:
    """Save ``{"model": state_dict}`` (tensors only; loadable with ``weights_only=True`` and by the segmentation bundle)
    and ``<path>.json`` with the encoder spec and settings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, path)
    meta = {**config.to_dict(), "encoder": encoder, "layer_indices": list(model.layer_indices)}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return path


def load_segmentation_checkpoint(
    path: str | Path, device: str = "cpu"
) -> tuple[FrozenSegmentationModel, SegmentationConfig, str]:
    """Rebuild a model saved by :func:`save_segmentation_checkpoint` (architecture from the JSON, weights from the .pt).

    Raises:
        FileNotFoundError: the checkpoint or its JSON is missing.
    """
    path = Path(path)
    meta_path = path.with_suffix(".json")
    for p in (path, meta_path):
        if not p.is_file():
            raise FileNotFoundError(f"segmentation checkpoint file {p} does not exist.")
    meta = json.loads(meta_path.read_text())
    encoder, indices = meta.pop("encoder"), meta.pop("layer_indices")
    fields = {f.name for f in dataclasses.fields(SegmentationConfig)}
    config = SegmentationConfig(**{k: v for k, v in meta.items() if k in fields})
    config.layer_indices = tuple(indices)
    from raddino_monai.models import create_backbone

    model = build_segmentation_model(create_backbone(parse_encoder(encoder)[1]), config)
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state.get("model", state))
    return model, config, encoder


def segment_train_run(
    encoder: str, datalist: str | Path | None, output_dir: str | Path, config: SegmentationConfig
) -> dict[str, Any]:
    """Train a head, save ``model.pt`` (+ ``model.json``), evaluate on the test split and write the results."""
    out = Path(output_dir)
    train, test = load_splits(datalist)
    model = build_segmentation_model(load_encoder_backbone(encoder), config)
    writer = _writer(out)
    history = train_segmentation(model, train, config, log=writer.add_scalar)
    writer.close()
    ckpt = save_segmentation_checkpoint(model, config, encoder, out / "model.pt")
    result = _write_segmentation_eval(model, config, encoder, test, out)
    return {**result, "history": history, "checkpoint": ckpt}


def _write_segmentation_eval(
    model: FrozenSegmentationModel, config: SegmentationConfig, encoder: str, items: Sequence[Mapping[str, Any]],
    out: Path,
) -> dict[str, Any]:
    result = evaluate_segmentation(model, items, config)
    write_csv(result["per_image"], out / "per_image_dice.csv")
    records = summary_records(parse_encoder(encoder)[0], "segmentation", {config.head: result["summary"]},
                              len(result["per_image"]))
    result["records"] = records
    result["files"] = write_results(records, out, {"encoder": encoder, **config.to_dict()})
    return result


def segment_evaluate_run(
    checkpoint: str | Path, datalist: str | Path | None, output_dir: str | Path, device: str = "cpu",
    split: str = "test",
) -> dict[str, Any]:
    """Evaluate a saved head on a datalist split; writes per-image Dice, results table and config."""
    model, config, encoder = load_segmentation_checkpoint(checkpoint, device)
    config.device = device
    parts = dict(zip(("training", "test"), load_splits(datalist)))
    if split not in parts:
        raise ValueError(f"split={split!r}; valid values: {sorted(parts)}.")
    return _write_segmentation_eval(model, config, encoder, parts[split], Path(output_dir))


def segment_predict_run(
    checkpoint: str | Path, images: Sequence[str], output_dir: str | Path, device: str = "cpu", nifti: bool = False,
    base_dir: str | Path | None = None,
) -> list[dict[str, str]]:
    """Predict masks for image files with a saved head; writes mask and overlay PNGs (+ NIfTI), ``predictions.csv``.

    Output names mirror each image's path relative to ``base_dir`` (default: the images' common folder); a name
    collision stops the run before anything is written (:func:`raddino_monai.transforms.output_names`).
    """
    validate_datalist([{"image": p} for p in images], check_files=False, source="predict images")
    model, config, _ = load_segmentation_checkpoint(checkpoint, device)
    config.device = device
    written = predict_segmentation(model, list(images), config, output_dir, write_nifti=nifti, base_dir=base_dir)
    write_csv(written, Path(output_dir) / "predictions.csv")
    return written

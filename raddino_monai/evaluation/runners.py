"""Evaluation jobs behind the ``tools/`` CLIs: load data and encoder from paths and specs, run a library function,
write results.

Each job writes into ``output_dir``: the resolved ``config.json``, ``results.csv`` + ``results.md`` (paper-style
table), per-run CSVs, ``bad_files.csv`` + ``bad_files.json`` (the unreadable images that were skipped, up to the
job's ``max_bad_fraction``; empty when none) and TensorBoard logs under ``tb/``. :data:`JOBS` runs a job from a plain option mapping (CLI
flags, ``tools/evaluate.py`` dicts): the options are the fields of the task's config dataclass, which holds every
default, so a tool never restates one.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from raddino_monai._compat import moved_names
from raddino_monai.data.bad_files import BadFileLog
from raddino_monai.data.datalist import load_datalist, validate_datalist
from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.data.splits import patient_split
from raddino_monai.inference.embeddings import embed_images
from raddino_monai.inference.pooling import VECTOR_POOLINGS, check_poolings

from .features import FrozenEncoder
from .linear_probe import LinearProbeConfig, evaluate_linear_probe
from .metadata_probe import MetadataProbeConfig, evaluate_metadata_probe
from .segmentation import (
    SegmentationConfig,
    build_segmentation_model,
    evaluate_segmentation,
    predict_segmentation,
    train_segmentation,
)
from .segmentation_model import FrozenSegmentationModel
from .tables import summary_records, write_csv, write_results

__all__ = ["parse_encoder", "load_encoder_backbone", "load_splits", "linear_probe_job", "metadata_probe_job",
           "segment_train_job", "segment_evaluate_job", "segment_predict_job", "save_segmentation_checkpoint",
           "load_segmentation_checkpoint", "config_from_options", "configs_from_options", "options_signature",
           "JOBS"]

ConfigT = TypeVar("ConfigT")

__getattr__ = moved_names(__name__)  # the *_run names of the runners are now *_job


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


def _bad_file_log(output_dir: Path, total: int, max_bad_fraction: float) -> BadFileLog:
    """The job's :class:`BadFileLog`, written now (empty) and whenever a bad file is met, as ``bad_files.csv``."""
    log = BadFileLog(total, max_bad_fraction, output_dir / "bad_files.csv")
    log.write()
    return log


def linear_probe_job(
    encoder: str, datalist: str | Path | None, output_dir: str | Path, config: LinearProbeConfig
) -> dict[str, Any]:
    """Linear probes of one encoder; writes ``runs.csv``, ``results.{csv,md}``, ``config.json``, ``tb/``.

    Returns:
        the :func:`evaluate_linear_probe` result plus ``"records"`` and ``"files"``.
    """
    out = Path(output_dir)
    label = parse_encoder(encoder)[0]
    train, test = load_splits(datalist)
    enc = FrozenEncoder(load_encoder_backbone(encoder), config.pooling, config.n_last_blocks)
    writer = _writer(out)
    bad_files = _bad_file_log(out, len({str(it["image"]) for it in train + test}), config.max_bad_fraction)
    result = evaluate_linear_probe(enc, train, test, config, log=writer.add_scalar, bad_files=bad_files)
    writer.close()
    write_csv(result["runs"], out / "runs.csv")
    records = summary_records(label, "linear_probe", result["summary"], len(config.seeds),
                              metrics=["auprc", "auroc", "accuracy"])
    cfg = {"encoder": encoder, "datalist": str(datalist or sample_datalist_path()), **config.to_dict(),
           "classes": result["classes"], "bad_files": bad_files.count}
    result["records"], result["files"] = records, write_results(records, out, cfg)
    return result


def metadata_probe_job(
    encoder: str,
    datalist: str | Path | None,
    output_dir: str | Path,
    config: MetadataProbeConfig,
    pooling: str = "cls",
    image_size: int | None = None,
    fit: str = "crop",
    batch_size: int = 32,
    device: str = "cpu",
    max_bad_fraction: float = 0.0,
) -> dict[str, Any]:
    """Metadata probes of one encoder on every datalist item; writes ``embeddings.npy``, results and config.

    Items whose image cannot be read are skipped and counted up to ``max_bad_fraction`` (``bad_files.csv``); the
    rows of ``embeddings.npy`` are then the remaining items, in datalist order.

    Args:
        encoder: encoder spec (:func:`parse_encoder`).
        datalist: datalist path (``None``: the embedded sample data).
        output_dir: results folder.
        config: probe settings.
        pooling: a vector pooling (:data:`~raddino_monai.inference.pooling.VECTOR_POOLINGS`; ``"cls"`` [PAPER]).
        image_size: input side; ``None``: the backbone's ``config.image_size``.
        fit: ``raddino_preprocessing`` fit (``"crop"`` = [HF] processor).
        batch_size: images per forward pass.
        device: torch device.
        max_bad_fraction: largest share of unreadable images that is skipped; 0 (ours, so every item is probed
            unless asked) stops at the first one with an error naming it.

    Raises:
        ValueError: unknown or spatial pooling (valid values listed).
        TooManyBadFilesError: more than ``max_bad_fraction`` of the images cannot be read.
    """
    check_poolings([pooling], VECTOR_POOLINGS)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    label = parse_encoder(encoder)[0]
    items = load_datalist(Path(datalist) if datalist is not None else sample_datalist_path())
    paths = [str(it["image"]) for it in items]
    backbone = load_encoder_backbone(encoder)
    image_size = int(image_size or backbone.config.image_size)
    bad_files = _bad_file_log(out, len(paths), max_bad_fraction)
    feats = embed_images(backbone, paths, pooling=[pooling], image_size=image_size, fit=fit, batch_size=batch_size,
                         device=device, desc="features", bad_files=bad_files)[pooling]
    items = [it for it, path in zip(items, paths) if path not in bad_files.paths]
    np.save(out / "embeddings.npy", feats)
    results = evaluate_metadata_probe(feats, items, config)
    summary = {r["attribute"]: {"accuracy": (r["mean"], r["std"]), "auroc": (r["auroc_mean"], r["auroc_std"])}
               for r in results}
    records = summary_records(label, "metadata_probe", summary, config.n_splits)
    cfg = {"encoder": encoder, "datalist": str(datalist or sample_datalist_path()), "pooling": pooling,
           "image_size": image_size, "fit": fit, **config.to_dict(), "max_bad_fraction": max_bad_fraction,
           "bad_files": bad_files.count}
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


def segment_train_job(
    encoder: str, datalist: str | Path | None, output_dir: str | Path, config: SegmentationConfig
) -> dict[str, Any]:
    """Train a head, save ``model.pt`` (+ ``model.json``), evaluate on the test split and write the results (items
    that cannot be read are skipped within ``config.max_bad_fraction`` and listed in ``bad_files.csv``)."""
    out = Path(output_dir)
    train, test = load_splits(datalist)
    bad_files = _bad_file_log(out, len(train) + len(test), config.max_bad_fraction)
    model = build_segmentation_model(load_encoder_backbone(encoder), config)
    writer = _writer(out)
    history = train_segmentation(model, train, config, log=writer.add_scalar, bad_files=bad_files)
    writer.close()
    ckpt = save_segmentation_checkpoint(model, config, encoder, out / "model.pt")
    result = _write_segmentation_eval(model, config, encoder, test, out, bad_files)
    return {**result, "history": history, "checkpoint": ckpt}


def _write_segmentation_eval(
    model: FrozenSegmentationModel, config: SegmentationConfig, encoder: str, items: Sequence[Mapping[str, Any]],
    out: Path, bad_files: BadFileLog,
) -> dict[str, Any]:
    result = evaluate_segmentation(model, items, config, bad_files=bad_files)
    write_csv(result["per_image"], out / "per_image_dice.csv")
    records = summary_records(parse_encoder(encoder)[0], "segmentation", {config.head: result["summary"]},
                              len(result["per_image"]))
    result["records"] = records
    result["files"] = write_results(records, out, {"encoder": encoder, **config.to_dict(),
                                                   "bad_files": bad_files.count})
    return result


def segment_evaluate_job(
    checkpoint: str | Path, datalist: str | Path | None, output_dir: str | Path, device: str = "cpu",
    split: str = "test", max_bad_fraction: float = 0.0,
) -> dict[str, Any]:
    """Evaluate a saved head on a datalist split; writes per-image Dice, results table, config and
    ``bad_files.csv`` (items that cannot be read, skipped up to ``max_bad_fraction``; 0 stops at the first)."""
    model, config, encoder = load_segmentation_checkpoint(checkpoint, device)
    config.device = device
    config.max_bad_fraction = max_bad_fraction
    parts = dict(zip(("training", "test"), load_splits(datalist)))
    if split not in parts:
        raise ValueError(f"split={split!r}; valid values: {sorted(parts)}.")
    out = Path(output_dir)
    bad_files = _bad_file_log(out, len(parts[split]), max_bad_fraction)
    return _write_segmentation_eval(model, config, encoder, parts[split], out, bad_files)


def segment_predict_job(
    checkpoint: str | Path, images: Sequence[str], output_dir: str | Path, device: str = "cpu", nifti: bool = False,
    base_dir: str | Path | None = None, max_bad_fraction: float = 0.0,
) -> list[dict[str, str]]:
    """Predict masks for image files with a saved head; writes mask and overlay PNGs (+ NIfTI), ``predictions.csv``
    and ``bad_files.csv`` (images that cannot be read, skipped up to ``max_bad_fraction``; 0 stops at the first).

    Output names mirror each image's path relative to ``base_dir`` (default: the images' common folder); a name
    collision stops the run before anything is written (:func:`raddino_monai.transforms.output_names`).
    """
    validate_datalist([{"image": p} for p in images], check_files=False, source="predict images")
    model, config, _ = load_segmentation_checkpoint(checkpoint, device)
    config.device = device
    bad_files = _bad_file_log(Path(output_dir), len(images), max_bad_fraction)
    written = predict_segmentation(model, list(images), config, output_dir, write_nifti=nifti, base_dir=base_dir,
                                   bad_files=bad_files)
    write_csv(written, Path(output_dir) / "predictions.csv")
    return written


def config_from_options(cls: Callable[..., ConfigT], options: Mapping[str, Any], prefix: str = "") -> ConfigT:
    """``cls(**options)`` for a config dataclass, with an error that lists its fields.

    Args:
        cls: the config dataclass.
        options: ``{name: value}``; the names are ``prefix`` + a field name.
        prefix: prefix of every option name, e.g. ``"encoder_"`` (``--encoder_arch`` sets field ``arch``).

    Raises:
        ValueError: an option that is not a field of ``cls`` (the valid names are listed).

    Example:
        >>> config_from_options(LinearProbeConfig, {"task": "multiclass"}).task
        'multiclass'
    """
    fields = {f"{prefix}{f.name}": f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} option(s) {unknown}; valid options are {sorted(fields)}.")
    return cls(**{fields[name]: value for name, value in options.items()})


def configs_from_options(options: Mapping[str, Any], *classes: Callable[..., Any],
                         prefixes: Mapping[Any, str] | None = None) -> list[Any]:
    """Several config dataclasses from one flat option mapping (a tool's ``**options``): each option goes to the
    first class with that field (named ``prefixes[cls]`` + field) and each class is built by
    :func:`config_from_options`, so every default stays in its dataclass.

    Args:
        options: ``{name: value}``.
        classes: the config dataclasses, in order.
        prefixes: option-name prefix per class (default none), e.g. ``{EncoderReference: "encoder_"}``.

    Returns:
        one instance per class, in order.

    Raises:
        ValueError: an option that no class has (every valid name is listed).
    """
    remaining, built, valid = dict(options), [], []
    for cls in classes:
        prefix = (prefixes or {}).get(cls, "")
        names = [f"{prefix}{f.name}" for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        valid += names
        built.append(config_from_options(cls, {n: remaining.pop(n) for n in names if n in remaining}, prefix))
    if remaining:
        raise ValueError(f"Unknown option(s) {sorted(remaining)}; valid options are {sorted(set(valid))}.")
    return built


def _defaulted_parameters(source: Callable[..., Any], prefix: str = "") -> list[inspect.Parameter]:
    """A config dataclass's fields, or a function's parameters that have defaults, as keyword-only parameters
    (named ``prefix`` + name)."""
    if dataclasses.is_dataclass(source):
        return [inspect.Parameter(
                    f"{prefix}{f.name}", inspect.Parameter.KEYWORD_ONLY, annotation=f.type,
                    default=f.default if f.default_factory is dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(source) if f.init]
    return [p.replace(name=f"{prefix}{p.name}", kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(source).parameters.values() if p.default is not inspect.Parameter.empty]


def options_signature(fn: Callable[..., Any], *sources: Callable[..., Any],
                      prefixes: Mapping[Any, str] | None = None) -> inspect.Signature:
    """``fn(..., **options)``'s signature with ``**options`` spelled out as the fields of config dataclasses (and
    the defaulted parameters of functions), their defaults taken from there: set it as ``fn.__signature__`` and
    ``fire`` lists every option with its real default, while the values keep a single source.

    Args:
        fn: the tool function.
        sources: config dataclasses / functions whose fields / defaulted parameters are the options.
        prefixes: option-name prefix per source, as in :func:`configs_from_options`.

    Example::

        >>> main.__signature__ = options_signature(main, LinearProbeConfig)  # doctest: +SKIP
    """
    own = [p for p in inspect.signature(fn).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    names = {p.name for p in own}
    extra = [p for source in sources for p in _defaulted_parameters(source, (prefixes or {}).get(source, ""))
             if p.name not in names]
    return inspect.Signature(own + list({p.name: p for p in extra}.values()))


def _linear_probe(encoder: str, datalist: str | Path | None, out: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    return linear_probe_job(encoder, datalist, out, config_from_options(LinearProbeConfig, options))


def _metadata_probe(encoder: str, datalist: str | Path | None, out: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    extraction_options = {p.name for p in _defaulted_parameters(metadata_probe_job)}  # pooling, image_size, ...
    extraction = {k: v for k, v in options.items() if k in extraction_options}
    probe = {k: v for k, v in options.items() if k not in extraction_options}
    return metadata_probe_job(encoder, datalist, out, config_from_options(MetadataProbeConfig, probe), **extraction)


def _segmentation(encoder: str, datalist: str | Path | None, out: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    return segment_train_job(encoder, datalist, out, config_from_options(SegmentationConfig, options))


#: task name -> ``job(encoder spec, datalist, output folder, options) -> result`` (with ``"records"``, ``"files"``).
JOBS: dict[str, Callable[[str, str | Path | None, Path, Mapping[str, Any]], dict[str, Any]]] = {
    "linear_probe": _linear_probe,
    "metadata_probe": _metadata_probe,
    "segmentation": _segmentation,
}

"""Pretraining methods of the comparison (:mod:`.compare_pretraining`): one registry, one budget, one call convention.

A method is any callable ``method(items, encoder_spec, budget, output_dir, seed) -> encoder`` that pretrains an image
encoder on ``items`` (the pretraining part of a patient split, :mod:`.heldout`) within ``budget`` and returns it as
an encoder spec (``"arch:hf_folder"``, the :func:`raddino_monai.evaluation.runners.parse_encoder` format), an HF
folder path, or a :class:`PretrainedEncoder` (spec + measured statistics + optional cross-modal embedders). Every
method of one comparison gets the *same* :class:`PretrainBudget` object: the same optimizer steps, images per
step, input side and wall-clock cap, so "images seen" is equal unless a method hits the cap (the table says so).

Registry (:data:`PRETRAINING_METHODS`; extend it, or pass callables, to compare other methods):

* ``random``: the same backbone at random initialisation, drawn with the seed (no step taken): the floor.
* ``ssl``: RAD-DINO-style image-only SSL (DINO + iBOT + KoLeo, multi-crop, EMA teacher) with the project's engine,
  :func:`raddino_monai.experiments.ssl_evidence.pretrain_tiny` (the tiny CPU recipe unless ``recipe`` overrides it;
  from the spec's weights when it has them, i.e. continual pretraining as RAD-DINO); the teacher backbone is kept.
* ``convirt``, ``ecamp``: the language-supervised baselines of issues 14 and 15 (image + ``report`` items); their
  adapters call the engines' ``convirt_pretrain_job`` / ``ecamp_pretrain_job`` (see :func:`convirt_method`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from raddino_monai.evaluation.runners import load_encoder_backbone, parse_encoder
from raddino_monai.models import export_hf_folder
from raddino_monai.ssl import SSLConfig
from raddino_monai.transforms import MultiCropConfig

__all__ = ["PretrainBudget", "PretrainedEncoder", "PretrainMethod", "Embedder", "random_method", "ssl_method",
           "convirt_method", "convirt_run_embedders", "ecamp_method", "PRETRAINING_METHODS", "get_method",
           "as_pretrained", "save_pretrained", "load_pretrained"]

#: items (dicts with ``"image"`` or ``"text"``) -> ``(len(items), D)`` embeddings (as ``evaluation.retrieval_run``)
Embedder = Callable[[Sequence[Mapping[str, Any]]], np.ndarray]


@dataclass(frozen=True)
class PretrainBudget:
    """The compute every method of one comparison gets (frozen: one object is handed to every method)."""

    steps: int = 300  # optimizer steps per method; ssl_evidence's 3-minute CPU default (docs/ssl_evidence.md)
    batch_size: int = 16  # images per step (docs/ssl_evidence.md protocol), so images seen = steps * batch_size
    image_size: int = 112  # pretraining input side (SSL global crops; tiny ViT positions; [PAPER] 518)
    max_minutes: float = 30.0  # wall-clock safety cap per method; a method that reaches it stops early (reported)
    num_workers: int = 1  # DataLoader workers (2-core machines: one keeps up, docs/ssl_evidence.md)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "image_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"PretrainBudget.{name} must be >= 1, found {getattr(self, name)!r}.")
        if self.max_minutes <= 0:
            raise ValueError(f"PretrainBudget.max_minutes must be > 0, found {self.max_minutes!r}.")

    @property
    def images_seen(self) -> int:
        """Training images drawn over the whole budget (``steps * batch_size``)."""
        return int(self.steps) * int(self.batch_size)


@dataclass
class PretrainedEncoder:
    """What a method hands to the evaluations."""

    spec: str  # "arch:hf_folder" (or "arch" for weights drawn with init_seed = the run's seed)
    stats: dict[str, float] = field(default_factory=dict)  # iterations, images_seen, seconds, images_per_s, ...
    embedders: dict[str, Embedder] = field(default_factory=dict)  # projected "image" / "text" embedders (ConVIRT)


class PretrainMethod(Protocol):
    """``(items, encoder_spec, budget, output_dir, seed) -> spec | HF folder | PretrainedEncoder``."""

    def __call__(self, items: Sequence[Mapping[str, Any]], encoder_spec: str, budget: PretrainBudget,
                 output_dir: Path, seed: int) -> str | Path | PretrainedEncoder: ...


def as_pretrained(result: str | Path | PretrainedEncoder, encoder_spec: str) -> PretrainedEncoder:
    """Normalise a method's return value; a bare folder gets the architecture of ``encoder_spec``.

    Raises:
        TypeError: any other return type.
    """
    if isinstance(result, PretrainedEncoder):
        return result
    if isinstance(result, Path) or (isinstance(result, str) and Path(result).is_dir()):
        return PretrainedEncoder(f"{parse_encoder(encoder_spec)[1]}:{result}")
    if isinstance(result, str):
        return PretrainedEncoder(result)
    raise TypeError(f"a pretraining method must return an encoder spec, an HF folder or a PretrainedEncoder; "
                    f"found {type(result).__name__}.")


def save_pretrained(encoder: PretrainedEncoder, path: Path) -> None:
    """Write ``{"spec", "stats"}`` (the embedders are rebuilt by their method, not stored)."""
    path.write_text(json.dumps({"spec": encoder.spec, "stats": encoder.stats}, indent=2) + "\n")


def load_pretrained(path: Path) -> PretrainedEncoder:
    """Read :func:`save_pretrained` output (a finished method of an interrupted comparison is not rerun); a ConVIRT
    run folder beside it gets its embedders back."""
    data = json.loads(path.read_text())
    embedders = convirt_run_embedders(path.parent) if (path.parent / "convirt_config.json").is_file() else {}
    return PretrainedEncoder(str(data["spec"]), dict(data.get("stats", {})), embedders)


def random_method(items: Sequence[Mapping[str, Any]], encoder_spec: str, budget: PretrainBudget, output_dir: Path,
                  seed: int) -> PretrainedEncoder:
    """The spec's architecture at random initialisation (``init_seed = seed``), exported as ``encoder_hf/``.

    The spec's weights, if any, are ignored: this is the no-pretraining floor of the same architecture.
    """
    arch = parse_encoder(encoder_spec)[1]
    folder = export_hf_folder(load_encoder_backbone(arch, init_seed=seed), Path(output_dir) / "encoder_hf")
    return PretrainedEncoder(f"{arch}:{folder}", {"iterations": 0.0, "images_seen": 0.0, "seconds": 0.0})


def ssl_method(items: Sequence[Mapping[str, Any]], encoder_spec: str, budget: PretrainBudget, output_dir: Path,
               seed: int, recipe: Mapping[str, Any] | None = None,
               crops: Mapping[str, Any] | None = None) -> PretrainedEncoder:
    """RAD-DINO-style SSL with the project's engine for ``budget.steps`` steps; the teacher backbone is exported.

    Args:
        items: pretraining items (``image``).
        encoder_spec: ``arch`` (from scratch) or ``arch:weights`` (continual pretraining from those weights).
        budget: steps, batch, input side (global crops), wall-clock cap, workers.
        output_dir: TensorBoard logs and ``encoder_hf/``.
        seed: run seed.
        recipe: :meth:`SSLConfig.replace` overrides of :meth:`SSLConfig.tiny` (the CPU recipe of
            ``docs/ssl_evidence.md``); for the full recipe on a GPU use ``bundles/raddino`` and compare its export.
        crops: :class:`MultiCropConfig` overrides of :meth:`MultiCropConfig.tiny` (``global_size`` = budget side).

    Raises:
        ValueError: fewer items than one batch (the loader drops the last incomplete batch).
    """
    from raddino_monai.experiments.ssl_evidence import pretrain_tiny

    if len(items) < budget.batch_size:
        raise ValueError(f"ssl pretraining needs at least one batch of {budget.batch_size} images, found "
                         f"{len(items)} pretraining items.")
    _, arch, weights = parse_encoder(encoder_spec)
    config = SSLConfig.tiny().replace(**dict(recipe or {})).replace(backbone={"name": arch, "weights": weights})
    crop_config = MultiCropConfig.tiny(**{"global_size": budget.image_size, **dict(crops or {})})
    model, stats = pretrain_tiny(items, output_dir, budget.steps, budget.max_minutes, arch, budget.batch_size,
                                 budget.num_workers, crop_config, seed, config)
    folder = export_hf_folder(model.teacher["backbone"], Path(output_dir) / "encoder_hf")
    stats = {**stats, "images_seen": stats["iterations"] * budget.batch_size}
    return PretrainedEncoder(f"{arch}:{folder}", stats)


def _require_reports(items: Sequence[Mapping[str, Any]], method: str) -> None:
    if not any(str(it.get("report") or "").strip() for it in items):
        raise ValueError(f"method {method!r} pretrains on image + 'report' pairs; none of the {len(items)} "
                         "pretraining items has a non-empty 'report'.")


def _engine_missing(method: str, function: str, issue: str, error: ImportError) -> ValueError:
    return ValueError(
        f"method {method!r} needs {function}(config, items_or_datalist, output_dir) -> HF folder from the {method} "
        f"pretraining engine ({issue}); this installation does not provide it ({error}). Valid methods that run "
        f"here: {[m for m in PRETRAINING_METHODS if m not in ('convirt', 'ecamp')]}."
    )


def _report_batches(items: Sequence[Mapping[str, Any]], budget: PretrainBudget, method: str) -> tuple[int, int]:
    """``(items with a report, epochs that hold budget.steps full batches of them)``."""
    n = sum(bool(str(it.get("report") or "").strip()) for it in items)
    if n < budget.batch_size:
        raise ValueError(f"method {method!r} needs at least one batch of {budget.batch_size} image + 'report' items, "
                         f"found {n} with a non-empty report among {len(items)} pretraining items.")
    return n, math.ceil(budget.steps / (n // budget.batch_size))


def convirt_method(items: Sequence[Mapping[str, Any]], encoder_spec: str, budget: PretrainBudget, output_dir: Path,
                   seed: int, recipe: str = "tiny", text_encoder: str | None = None,
                   config: Mapping[str, Any] | None = None) -> PretrainedEncoder:
    """ConVIRT image-text contrastive pretraining (issue 14) on the image + ``report`` items, same budget.

    Calls ``raddino_monai.experiments.convirt_pretrain.convirt_pretrain_job`` with ``max_iters = budget.steps`` and
    the budget's batch size and input side; the image encoder is the spec's architecture (and weights).

    Args:
        items, encoder_spec, budget, output_dir, seed: as every method (:class:`PretrainMethod`).
        recipe: ConVIRT recipe (``"tiny"``: CPU scale, the default here as :meth:`SSLConfig.tiny` is for ``ssl``;
            ``"convirt"``: the paper's values).
        text_encoder: local BERT folder (e.g. ``tools/report.py build_bert``); ``None``: the engine builds a
            random-init BERT.
        config: further ``ConVIRTConfig.replace`` fields.

    Raises:
        ValueError: the ConVIRT engine is not installed, or fewer report items than one batch.
    """
    _require_reports(items, "convirt")
    try:
        from raddino_monai.experiments.convirt_pretrain import convirt_pretrain_job
        from raddino_monai.ssl.convirt import ConVIRTConfig
    except ImportError as err:
        raise _engine_missing("convirt", "convirt_pretrain_job", "issue 14 item 5", err) from err
    _, epochs = _report_batches(items, budget, "convirt")
    _, arch, weights = parse_encoder(encoder_spec)
    model = {"image_encoder": arch, "image_weights": weights}
    model.update({"text_encoder": text_encoder} if text_encoder else {})
    cfg = ConVIRTConfig.from_recipe(recipe, model=model, augment={"size": budget.image_size},
                                    batch_size_per_gpu=budget.batch_size, **dict(config or {}))
    start = time.perf_counter()
    folder = convirt_pretrain_job(cfg, list(items), output_dir, max_epochs=epochs, max_iters=budget.steps, seed=seed,
                                  num_workers=budget.num_workers)
    seconds = time.perf_counter() - start
    stats = {"iterations": float(budget.steps), "images_seen": float(budget.images_seen), "seconds": seconds,
             "images_per_s": budget.images_seen / max(seconds, 1e-9)}
    return PretrainedEncoder(f"{arch}:{folder}", stats, convirt_run_embedders(output_dir))


def convirt_run_embedders(run_dir: Path) -> dict[str, Embedder]:
    """The projected ``{"image", "text"}`` embedders of a finished ConVIRT run (text <-> image retrieval); the run's
    towers are loaded at the first call, so a reused method whose evaluation is reused too loads nothing."""
    loaded: dict[str, Embedder] = {}

    def modality(name: str) -> Embedder:
        def embed(items: Sequence[Mapping[str, Any]]) -> np.ndarray:
            if not loaded:
                from raddino_monai.experiments.convirt_embedders import convirt_embedders, load_convirt_run

                loaded.update(convirt_embedders(load_convirt_run(run_dir)))
            return loaded[name](items)
        return embed

    return {"image": modality("image"), "text": modality("text")}


def ecamp_method(items: Sequence[Mapping[str, Any]], encoder_spec: str, budget: PretrainBudget, output_dir: Path,
                 seed: int, recipe: str = "tiny", config: Mapping[str, Any] | None = None) -> PretrainedEncoder:
    """ECAMP masked modelling with report supervision (issue 15) on the image + ``report`` items, same budget.

    ECAMP's schedule counts epochs, so the run gets the fewest whole epochs holding ``budget.steps`` batches of
    ``budget.batch_size`` (the stats report the steps actually taken); the encoder input is ``budget.image_size``
    (super-resolution target twice that, as ECAMP).

    Args:
        items, encoder_spec, budget, output_dir, seed: as every method (:class:`PretrainMethod`).
        recipe: ECAMP recipe (``"tiny"``: CPU scale; ``"ecamp"``: the released recipe).
        config: further ``ECAMPPretrainConfig.replace`` changes.

    Raises:
        ValueError: the ECAMP engine is not installed, or fewer report items than one batch.
    """
    _require_reports(items, "ecamp")
    try:
        from raddino_monai.experiments.ecamp_pretrain import ecamp_pretrain_job
        from raddino_monai.ssl.ecamp_config import ECAMPPretrainConfig
    except ImportError as err:
        raise _engine_missing("ecamp", "ecamp_pretrain_job", "issue 15 item 3", err) from err
    n, epochs = _report_batches(items, budget, "ecamp")
    _, arch, weights = parse_encoder(encoder_spec)
    cfg = ECAMPPretrainConfig.from_recipe(
        recipe, backbone=arch, backbone_weights=weights, seed=seed, model={"input_size": budget.image_size},
        optim={"batch_size_per_gpu": budget.batch_size}, augment={"size": 2 * budget.image_size},
        schedule={"epochs": epochs, "warmup_epochs": 0, "cosine_epochs": epochs}, **dict(config or {}))
    start = time.perf_counter()
    folder = ecamp_pretrain_job(cfg, list(items), output_dir, num_workers=budget.num_workers)
    seconds = time.perf_counter() - start
    steps = epochs * (n // budget.batch_size)
    stats = {"iterations": float(steps), "images_seen": float(steps * budget.batch_size), "seconds": seconds,
             "images_per_s": steps * budget.batch_size / max(seconds, 1e-9)}
    return PretrainedEncoder(f"{arch}:{folder}", stats)


#: method name -> pretraining callable (:class:`PretrainMethod`)
PRETRAINING_METHODS: dict[str, PretrainMethod] = {
    "random": random_method,
    "ssl": ssl_method,
    "convirt": convirt_method,
    "ecamp": ecamp_method,
}


def get_method(name: str | PretrainMethod, options: Mapping[str, Any] | None = None) -> PretrainMethod:
    """A registered method by name (or a callable as is), with keyword ``options`` bound.

    Raises:
        ValueError: unknown name (the valid names are listed).

    Example:
        >>> get_method("byol")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Unknown pretraining method 'byol'; valid methods are ['random', 'ssl', 'convirt', 'ecamp'] ...
    """
    if callable(name):
        method = name
    elif name in PRETRAINING_METHODS:
        method = PRETRAINING_METHODS[name]
    else:
        raise ValueError(f"Unknown pretraining method {name!r}; valid methods are {list(PRETRAINING_METHODS)} "
                         "(or pass a callable).")
    if not options:
        return method
    bound = dict(options)
    return lambda items, spec, budget, out, seed: method(items, spec, budget, out, seed, **bound)


def budget_dict(budget: PretrainBudget) -> dict[str, Any]:
    """The budget as written to ``config.json`` / the table, with ``images_seen``."""
    return {**asdict(budget), "images_seen": budget.images_seen}


def timed(method: PretrainMethod, items: Sequence[Mapping[str, Any]], encoder_spec: str, budget: PretrainBudget,
          output_dir: Path, seed: int) -> PretrainedEncoder:
    """Run a method and add its wall-clock ``seconds`` (when it did not report them) and ``budget_steps``."""
    start = time.perf_counter()
    encoder = as_pretrained(method(items, encoder_spec, budget, output_dir, seed), encoder_spec)
    encoder.stats.setdefault("seconds", time.perf_counter() - start)
    encoder.stats["budget_steps"] = float(budget.steps)
    return encoder

"""Small-scale evidence that the SSL engine learns: pretrain a tiny ViT on CPU, then frozen linear probes of its
teacher vs the same architecture at random initialisation.

:func:`pretrain_tiny` runs :class:`~raddino_monai.engines.SSLTrainer` (the bundle's pipeline in Python) for a number of
iterations or minutes and reports training images/s and the share of each step spent waiting for data.
:func:`probe_encoders` runs the evaluation metadata probe on frozen CLS features
(:func:`raddino_monai.inference.embed_images`, then :func:`raddino_monai.evaluation.metadata_probe.probe_attribute`:
``LogisticRegression`` with C chosen from :data:`~raddino_monai.evaluation.metadata_probe.C_GRID` by inner grouped
CV, patient-grouped stratified 5-fold CV, accuracy and AUROC) for the items' view group (PA / AP / lateral) and
``sex``. :func:`ssl_evidence` does both and writes ``results.json`` and ``results.png`` (and, with ``probe_every``,
the probe AUROC of teacher snapshots by iteration, ``curve.png``). The summaries live in
:mod:`raddino_monai.experiments.evidence_summary` and are re-exported here: :func:`format_evidence` (a few lines per
run), :func:`combine_seeds` / :func:`format_combined` (runs with different seeds, with the paired difference and a
sign test; pretraining, random init and folds all follow the seed). CLI: ``tools/ssl_evidence.py``; measured results
in ``docs/ssl_evidence.md``.

Two modes (``results["pretraining_mode"]`` says which one produced a result): ``"all_images"`` (``heldout_fraction=0``,
the default and the mode of the first published numbers) pretrains on every image and probes the same images, so
the probes partly measure how the teacher fits images it was trained on; ``"held_out_patients"`` (``heldout_fraction
> 0``) pretrains on the other patients only and probes just the held-out ones
(:func:`raddino_monai.experiments.heldout.heldout_split`), as :mod:`.compare_pretraining` always does.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import monai
import numpy as np
import torch
from ignite.engine import Events
from torch import nn

from raddino_monai.data.bad_files import SkipBadFiles
from raddino_monai.data.collate import SSLCollate
from raddino_monai.data.datalist import load_datalist
from raddino_monai.data.datasets import CXRCacheDataset
from raddino_monai.data.samplers import ResumableDistributedSampler, SeededDataset
from raddino_monai.engines.handlers import (
    BadFileHandler,
    CollapseMonitor,
    SSLProgressBar,
    SSLTensorBoardHandler,
    TeacherSnapshots,
    ThroughputMonitor,
)
from raddino_monai.engines.ssl_trainer import SSLTrainer
from raddino_monai.evaluation.metadata_probe import C_GRID, MetadataProbeConfig, probe_attribute
from raddino_monai.evaluation.runners import load_encoder_backbone
from raddino_monai.experiments.evidence_plots import plot_probe_curve, plot_probes
from raddino_monai.experiments.evidence_summary import combine_seeds, format_combined, format_evidence
from raddino_monai.experiments.heldout import check_patient_disjoint, heldout_split
from raddino_monai.inference.embeddings import embed_images
from raddino_monai.models import export_hf_folder
from raddino_monai.ssl import SSLConfig, StudentTeacher, build_adamw
from raddino_monai.transforms import LoadCXRd, MultiCropConfig, MultiCropd, ResizeShortestEdged

__all__ = [
    "VIEW_GROUPS", "PROBES", "pretrain_tiny", "probe_items", "probe_encoders", "ssl_evidence",
    "format_evidence", "combine_seeds", "format_combined",
]

#: DICOM-style ViewPosition strings (upper-cased) -> the metadata probe's ``view_group`` classes; others are left out
VIEW_GROUPS: dict[str, str] = {
    "PA": "PA", "AP": "AP", "AP SUPINE": "AP", "AP ERECT": "AP", "AP SEMI ERECT": "AP",
    "L": "LATERAL", "LL": "LATERAL", "RL": "LATERAL", "LATERAL": "LATERAL",
}

#: result name -> metadata-probe attribute (:data:`raddino_monai.evaluation.metadata_probe.CATEGORICAL_ATTRIBUTES`)
PROBES: dict[str, str] = {"view": "view_group", "sex": "sex"}
#: probe-result keys kept per point of the probe-vs-iteration curve
CURVE_KEYS: tuple[str, ...] = ("mean", "std", "auroc_mean", "auroc_std")


def pretrain_tiny(
    items: Sequence[Mapping[str, Any]],
    output_dir: str | Path,
    max_iters: int = 300,
    max_minutes: float = 5.0,
    arch: str | None = None,
    batch_size: int = 16,
    num_workers: int = 1,
    crops: MultiCropConfig | None = None,
    seed: int = 0,
    config: SSLConfig | None = None,
    handlers: Sequence[Any] = (),
) -> tuple[StudentTeacher, dict[str, float]]:
    """Pretrain ``arch`` from scratch on CPU with the tiny recipe (:meth:`SSLConfig.tiny`).

    Args:
        items: datalist items with ``image``.
        output_dir: TensorBoard logs go to ``output_dir/tensorboard``.
        max_iters: schedule length; training stops earlier when ``max_minutes`` is reached.
        max_minutes: wall-clock budget.
        arch: backbone name; ``None``: the recipe's (``tiny_vit_p16`` for :meth:`SSLConfig.tiny`).
        batch_size: images per step (16: the protocol of ``docs/ssl_evidence.md``).
        num_workers: DataLoader workers (data-wait share shows whether they keep up).
        crops: multi-crop recipe (default ``MultiCropConfig.tiny()``: 112 / 48 px, 4 local crops).
        seed: run seed.
        config: SSL recipe (default :meth:`SSLConfig.tiny`); its backbone name is replaced by ``arch`` (if given), its
            schedules are rescaled to ``max_iters``. The trainer reads its ``precision`` and ``optim.clip_grad``.
        handlers: further handlers with ``attach(engine)`` (e.g. :class:`TeacherSnapshots`).

    Returns:
        the trained model and ``{"iterations", "images_per_s", "data_wait_share", "seconds", "final_loss"}``.
    """
    crops = crops or MultiCropConfig.tiny()
    monai.utils.set_determinism(seed=seed)
    config = config or SSLConfig.tiny()
    config = config.replace(backbone={"name": arch}) if arch else config
    model = StudentTeacher.from_config(config)
    transform = monai.transforms.Compose(
        [LoadCXRd("image"), ResizeShortestEdged("image", size=crops.global_size), MultiCropd("image", crops)]
    )
    files = SkipBadFiles(CXRCacheDataset(list(items), transform=transform, progress=False), substitute=True)
    dataset = SeededDataset(files, seed=seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ResumableDistributedSampler(dataset, seed=seed, num_replicas=1, rank=0),
        collate_fn=SSLCollate(model.student["backbone"].patch_size, config.masking, seed=seed),
        num_workers=num_workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    monitor = ThroughputMonitor(warmup=2)
    handlers = [
        monitor,
        SSLTensorBoardHandler(Path(output_dir) / "tensorboard", interval=5),
        CollapseMonitor(config.heads.n_prototypes, patience=100),
        SSLProgressBar(),
        BadFileHandler(output_dir, files),  # unreadable images: skipped, listed in bad_files.csv, stop above 1 %
        *handlers,
    ]
    trainer = SSLTrainer(
        device="cpu",
        max_epochs=-(-max_iters // len(loader)),
        train_data_loader=loader,
        network=model,
        optimizer=build_adamw(model.param_groups(), config.optim),
        schedules=config.build_schedules(batch_size, total_iters=max_iters),
        train_handlers=handlers,
    )
    start = time.perf_counter()

    def stop_when_done(engine: SSLTrainer) -> None:
        if engine.state.iteration >= max_iters or time.perf_counter() - start > 60 * max_minutes:
            engine.terminate()

    trainer.add_event_handler(Events.ITERATION_COMPLETED, stop_when_done)
    trainer.run()
    stats = {**monitor.summary(), "iterations": float(trainer.state.iteration)}
    stats["final_loss"] = float(trainer.state.output["losses"]["loss"])
    return model, stats


def probe_items(items: Sequence[Mapping[str, Any]], patient_key: str = "patient_id") -> list[dict[str, Any]]:
    """Items for the metadata probe: ``sex``, the patient, and ``view_group`` (kept when given, else the DICOM
    ``view`` mapped by :data:`VIEW_GROUPS`; ``None`` when unknown, so the view probe leaves the item out).

    Items without ``patient_key`` count as their own patient.

    Example:
        >>> [it["view_group"] for it in probe_items([{"view": "AP Supine"}, {"view": "x"}, {"view_group": "PA"}])]
        ['AP', None, 'PA']
    """
    out = []
    for i, item in enumerate(items):
        view = item.get("view_group") or VIEW_GROUPS.get(str(item.get("view", "")).strip().upper())
        out.append({"patient_id": str(item.get(patient_key, f"__item{i}")), "sex": item.get("sex"), "view_group": view})
    return out


def probe_encoders(
    features: Mapping[str, np.ndarray],
    items: Sequence[Mapping[str, Any]],
    seed: int = 0,
    C: float | Sequence[float] = C_GRID,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Metadata probe (:func:`~raddino_monai.evaluation.metadata_probe.probe_attribute`) of every :data:`PROBES`
    attribute on each encoder's frozen features.

    Args:
        features: encoder name -> ``(N, F)`` embeddings of ``items`` (same order).
        items: :func:`probe_items` output.
        seed: fold-assignment seed.
        C: logistic-regression inverse L2 strength, or a grid chosen per fold by inner grouped CV (default
            :data:`~raddino_monai.evaluation.metadata_probe.C_GRID`).

    Returns:
        ``(probes, skipped)``: ``probes[name][encoder]`` is the probe result (fold ``accuracy``, ``mean``, ``std``,
        ``n_images``, ``n_patients``, ``class_counts``) plus ``chance``, the majority-class share (the accuracy of
        always predicting the most frequent class); ``skipped[name]`` is the reason an attribute was left out (too few
        patients or classes).
    """
    config = MetadataProbeConfig(attributes=tuple(PROBES.values()), seed=seed, C=C)
    probes: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for name, attribute in PROBES.items():
        rows = {enc: probe_attribute(feats, items, attribute, config) for enc, feats in features.items()}
        first = next(iter(rows.values()))
        if "skipped" in first:
            skipped[name] = first["skipped"]
            continue
        chance = max(first["class_counts"].values()) / first["n_images"]
        probes[name] = {enc: {**row, "chance": chance} for enc, row in rows.items()}
    return probes, skipped


def ssl_evidence(
    datalist: str | Path,
    output_dir: str | Path,
    max_iters: int = 300,
    max_minutes: float = 5.0,
    arch: str | None = None,
    batch_size: int = 16,
    num_workers: int = 1,
    probe_size: int = 112,
    seed: int = 0,
    recipe: Mapping[str, Any] | None = None,
    crops: Mapping[str, Any] | None = None,
    probe_every: int = 0,
    heldout_fraction: float = 0.0,
    patient_key: str = "patient_id",
) -> dict[str, Any]:
    """Pretrain, then probe view and sex: SSL teacher vs random init (on every image, or on held-out patients).

    Args:
        datalist: JSON/CSV datalist; items need ``image`` and, for the probes, ``patient_id``, ``sex`` and
            ``view_group`` or ``view`` (DICOM ViewPosition, :data:`VIEW_GROUPS`).
        output_dir: where ``results.json``, ``results.png``, TensorBoard logs and the pretrained teacher backbone
            (``teacher_hf/``, an HF folder for ``tools/evaluate.py``) go.
        max_iters: pretraining schedule length (iterations).
        max_minutes: pretraining wall-clock budget.
        arch: backbone name; ``None``: the recipe's.
        batch_size: pretraining batch.
        num_workers: DataLoader workers.
        probe_size: probe input side.
        seed: seed of pretraining, random init and probe folds.
        recipe: :meth:`SSLConfig.replace` overrides of the tiny recipe, e.g. ``{"loss": {"centering":
            "sinkhorn_knopp"}}``; the random-init baseline gets the same backbone overrides. Schedule lengths are
            relative to ``schedule.total_iters`` and rescaled to ``max_iters``.
        crops: :class:`MultiCropConfig` field overrides of :meth:`MultiCropConfig.tiny`, e.g. ``{"global_size": 224,
            "local_size": 96}``.
        probe_every: when > 0, also probe the teacher every ``probe_every`` iterations of this run
            (:class:`TeacherSnapshots`): ``results["curve"]`` and ``curve.png`` (probe AUROC vs iteration).
        heldout_fraction: 0: pretrain and probe on every item (``"all_images"`` mode); in (0, 1): that share of the
            patients is held out of pretraining and only they are probed (``"held_out_patients"`` mode; the split
            follows ``seed``).
        patient_key: item key of the patient id for the held-out split (missing: the image id, with a warning).

    Returns:
        the results dict (also written to ``results.json``).
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = load_datalist(datalist)
    pretrain_items, probe_set_items = items, items
    if heldout_fraction > 0:
        pretrain_items, probe_set_items = heldout_split(items, heldout_fraction, seed, patient_key)
        check_patient_disjoint(pretrain_items, probe_set_items)
    crop_config = MultiCropConfig.tiny(**dict(crops or {}))
    config = SSLConfig.tiny().replace(**dict(recipe or {}))
    config = config.replace(backbone={"name": arch}) if arch else config
    arch = config.backbone.name
    snapshots = TeacherSnapshots(probe_every) if probe_every > 0 else None
    model, stats = pretrain_tiny(pretrain_items, out, max_iters, max_minutes, arch, batch_size, num_workers,
                                 crop_config, seed, config, handlers=[snapshots] if snapshots else [])
    export_hf_folder(model.teacher["backbone"], out / "teacher_hf")  # reusable by tools/evaluate.py

    def untrained() -> nn.Module:  # same architecture and init scheme, drawn with the run's seed
        return load_encoder_backbone(arch, init_seed=seed, **config.backbone.overrides)

    paths = [str(it["image"]) for it in probe_set_items]

    def embed(backbone: nn.Module, name: str) -> np.ndarray:
        return embed_images(backbone, paths, pooling=["cls"], image_size=probe_size, desc=name)["cls"]

    features = {"pretrained": embed(model.teacher["backbone"], "pretrained"),
                "random_init": embed(untrained(), "random init")}
    probe_set = probe_items(probe_set_items)  # held-out items carry their patient group in GROUP_KEY
    probes, skipped = probe_encoders(features, probe_set, seed=seed)
    curve = []
    for iteration, state in sorted(snapshots.states.items() if snapshots else []):
        if iteration == stats["iterations"]:  # the final teacher, probed above
            point = {name: {"teacher": rows["pretrained"]} for name, rows in probes.items()}
        else:
            backbone = untrained()
            backbone.load_state_dict(state)
            point, _ = probe_encoders({"teacher": embed(backbone, f"iteration {iteration}")}, probe_set, seed=seed)
        curve.append({"iteration": iteration, "probes": {name: {key: rows["teacher"][key] for key in CURVE_KEYS}
                                                         for name, rows in point.items()}})
    results = {"pretraining": stats, "probes": probes, "skipped": skipped, "n_images": len(items), "arch": arch,
               "pretraining_mode": "held_out_patients" if heldout_fraction > 0 else "all_images",
               "heldout_fraction": heldout_fraction, "n_pretrain_images": len(pretrain_items),
               "n_probe_images": len(probe_set_items),
               "recipe": config.to_dict(), "crops": dataclasses.asdict(crop_config), "probe_C_grid": list(C_GRID),
               "curve": curve}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    if probes:
        plot_probes(probes, out / "results.png")
    if curve and probes:
        plot_probe_curve(curve, probes, out / "curve.png")
    return results

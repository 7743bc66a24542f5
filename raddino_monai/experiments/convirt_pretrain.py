"""ConVIRT pretraining on :class:`~raddino_monai.engines.PretrainTrainer`: the one library entry point,
:func:`convirt_pretrain_job` (config + image/report items -> exported image-encoder HF folder), and the pieces the
bundle ``bundles/convirt`` wires in its JSON (:func:`load_convirt_items`, :func:`resolve_text_encoder`,
:func:`convirt_schedules`).

Output folder layout (one run per folder, held with a ``RunLock``)::

    <output_dir>/convirt_config.json     the resolved ConVIRTConfig
    <output_dir>/text_encoder/           random-init BERT, only when the config names no text encoder
    <output_dir>/checkpoints/            atomic checkpoints, exact resume (SSLCheckpointHandler)
    <output_dir>/tensorboard/            loss/*, monitor/temperature, monitor/accuracy_*, schedule/*, grad_norm/*
    <output_dir>/image_encoder_hf/       Dinov2Model folder of the image backbone: what every evaluation tool takes

Example::

    >>> hf = convirt_pretrain_job(ConVIRTConfig.from_recipe("tiny"), "datalist.json", "runs/convirt", max_epochs=1)
    >>> AutoModel.from_pretrained(hf)  # or tools/linear_probe.py --encoder hf, tools/extract_embeddings.py ...
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from monai.data import Dataset
from torch.utils.data import DataLoader

from raddino_monai.data.datalist import load_datalist
from raddino_monai.data.sample_reports import with_metadata_reports
from raddino_monai.data.samplers import ResumableDistributedSampler, SeededDataset
from raddino_monai.engines import PretrainTrainer
from raddino_monai.engines.handlers import (
    NaNGuard,
    RunLock,
    SSLCheckpointHandler,
    SSLProgressBar,
    SSLTensorBoardHandler,
    TeacherExportHandler,
    ThroughputMonitor,
)
from raddino_monai.models.convirt import load_tokenizer
from raddino_monai.ssl.convirt import CONVIRT_MONITORS, ConVIRTConfig, ConVIRTPretrainModel
from raddino_monai.ssl.convirt_data import ConVIRTCollate, convirt_transforms, report_items
from raddino_monai.ssl.schedules import OptimSchedules
from raddino_monai.text.build import random_bert

__all__ = ["CONVIRT_BAR_TERMS", "HF_FOLDER", "build_convirt_trainer", "convirt_pretrain_job", "convirt_schedules",
           "load_convirt_items", "resolve_text_encoder"]

logger = logging.getLogger(__name__)
#: progress-bar scalars of a ConVIRT run
CONVIRT_BAR_TERMS: tuple[str, ...] = ("loss", "accuracy_image_to_text")
#: the exported image encoder's folder name inside the run folder
HF_FOLDER = "image_encoder_hf"


def load_convirt_items(
    items_or_datalist: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
    split: str | Sequence[str] | None = "training",
    synthesize_reports: bool = False,
    report_key: str = "report",
) -> list[dict[str, Any]]:
    """Image + report items from a datalist path or a list; items without a sentence are skipped and counted.

    Args:
        items_or_datalist: datalist ``.json`` / ``.csv`` (``image`` + ``report`` per item) or the items themselves.
        split: datalist section(s) (ignored for a list).
        synthesize_reports: fill missing reports with :func:`~raddino_monai.data.sample_reports.metadata_report`
            (the embedded sample has none; not report text, see that module).
        report_key: item key of the report.

    Raises:
        ValueError: no item has a usable report.
    """
    if isinstance(items_or_datalist, (str, os.PathLike)):
        items = load_datalist(items_or_datalist, split=split)
    else:
        items = [dict(item) for item in items_or_datalist]
    if synthesize_reports:
        items = with_metadata_reports(items, report_key)
    return report_items(items, report_key)


def resolve_text_encoder(config: ConVIRTConfig, texts: Sequence[str], folder: str | os.PathLike[str]) -> ConVIRTConfig:
    """``config`` itself when it names a text encoder; else a copy pointing at a random-init BERT built in ``folder``
    from ``texts`` (reused when present; ``n_frozen_layers + 2`` layers, at least 4, so that layers stay trainable).
    A warning says that this is not a pretrained text encoder."""
    if config.model.text_encoder:
        return config
    layers = max(4, config.model.n_frozen_layers + 2)
    path = random_bert(list(texts), folder, model={"num_layers": layers})
    logger.warning("ConVIRT: no text encoder given; using a random-init %d-layer BERT built in %s (smoke runs only: "
                   "pass model.text_encoder = a local ClinicalBERT or tools/report.py build_bert output).",
                   layers, path)
    return config.replace(model={"text_encoder": str(path)})


def convirt_schedules(config: ConVIRTConfig, total_iters: int) -> OptimSchedules:
    """lr / weight-decay schedule values per iteration from ``config.lr_schedule`` (``"cosine"`` to 0 or
    ``"constant"``)."""
    if config.lr_schedule == "constant":
        return OptimSchedules.constant(lr=config.lr, weight_decay=config.weight_decay, total_iters=total_iters)
    return OptimSchedules.cosine(peak_lr=config.lr, min_lr=0.0, weight_decay=config.weight_decay,
                                 total_iters=total_iters, warmup_iters=config.warmup_iters)


def build_convirt_trainer(
    config: ConVIRTConfig | Mapping[str, Any] | str,
    items_or_datalist: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
    output_dir: str | os.PathLike[str],
    *,
    split: str | Sequence[str] | None = "training",
    max_epochs: int = 1,
    max_iters: int | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    num_workers: int = 0,
    save_interval: int = 1000,
    export_interval: int = 0,
    log_interval: int = 10,
    synthesize_reports: bool = False,
    resume: bool = True,
) -> PretrainTrainer:
    """The ready-to-run trainer of :func:`convirt_pretrain_job` (same arguments); writes ``convirt_config.json``."""
    cfg = ConVIRTConfig.from_recipe(config) if isinstance(config, str) else (
        config if isinstance(config, ConVIRTConfig) else ConVIRTConfig(**dict(config)))
    out = Path(output_dir).expanduser()
    items = load_convirt_items(items_or_datalist, split, synthesize_reports)
    if len(items) < cfg.batch_size_per_gpu:
        raise ValueError(f"{len(items)} usable items is fewer than one batch of {cfg.batch_size_per_gpu} "
                         "(batch_size_per_gpu); the last incomplete batch is dropped.")
    cfg = resolve_text_encoder(cfg, [item["report"] for item in items], out / "text_encoder")
    torch.manual_seed(seed)
    model = ConVIRTPretrainModel.from_config(cfg).to(device)
    dataset = SeededDataset(Dataset(items, transform=convirt_transforms(cfg.augment)), seed=seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size_per_gpu, sampler=ResumableDistributedSampler(
        dataset, shuffle=True, seed=seed), collate_fn=ConVIRTCollate(load_tokenizer(cfg.model.text_encoder),
        cfg.max_length), num_workers=num_workers, drop_last=True,
        generator=torch.Generator().manual_seed(seed))  # own generator: a resumed iterator draws nothing from torch's
    # global RNG, which the checkpoint restored for dropout / drop-path  # fmt: skip
    total = max_epochs * len(loader) if max_iters is None else min(max_iters, max_epochs * len(loader))
    handlers = [
        NaNGuard(hint="resume from the last one with a lower lr or precision 'fp32'."),
        ThroughputMonitor(),
        SSLCheckpointHandler(out / "checkpoints", save_interval=save_interval, n_saved=2, resume=resume),
        TeacherExportHandler(out / HF_FOLDER, interval=export_interval),
        SSLTensorBoardHandler(out / "tensorboard", interval=log_interval, monitors=CONVIRT_MONITORS),
        SSLProgressBar(terms=CONVIRT_BAR_TERMS),
    ]
    trainer = PretrainTrainer(device, max_epochs=max_epochs, train_data_loader=loader, network=model,
                              optimizer=torch.optim.Adam(model.param_groups(), lr=cfg.lr, betas=cfg.betas),
                              schedules=convirt_schedules(cfg, total), precision=cfg.precision,
                              clip_grad=cfg.clip_grad, train_handlers=handlers, run_lock=RunLock(out),
                              batch_size_key="image")  # fmt: skip
    if max_iters is not None:
        trainer.add_event_handler(Events.ITERATION_COMPLETED(event_filter=lambda e, it: it >= total),
                                  lambda e: e.terminate())
    out.mkdir(parents=True, exist_ok=True)
    (out / "convirt_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    return trainer


def convirt_pretrain_job(
    config: ConVIRTConfig | Mapping[str, Any] | str,
    items_or_datalist: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
    output_dir: str | os.PathLike[str],
    **options: Any,
) -> Path:
    """Pretrain ConVIRT and export the image encoder; returns the HF folder ``<output_dir>/image_encoder_hf``.

    Args:
        config: :class:`ConVIRTConfig`, a mapping of its fields, or a recipe name (``"convirt"``, ``"tiny"``).
            Without ``model.text_encoder`` a random-init BERT is built (:func:`resolve_text_encoder`).
        items_or_datalist: image + report items or a datalist path (:func:`load_convirt_items`).
        output_dir: run folder (layout in the module docstring); a second run in it is refused while one is alive.
        options: keyword options of :func:`build_convirt_trainer`:

            * ``split`` (``"training"``): datalist section(s) used;
            * ``max_epochs`` (1): passes over the items;
            * ``max_iters`` (None): stop after this many iterations (a compute budget; the lr schedule spans it);
            * ``device`` (``"cpu"``), ``num_workers`` (0; draws do not depend on workers);
            * ``seed`` (0): data order, augmentation and sentence draws (``SeededDataset``), model initialisation;
            * ``save_interval`` (1000; a checkpoint is always written at the end), ``export_interval`` (0: at the
              end only), ``log_interval`` (10): in iterations;
            * ``synthesize_reports`` (False): fill missing reports from metadata (sample data only,
              :mod:`raddino_monai.data.sample_reports`);
            * ``resume`` (True): continue from the newest checkpoint in ``<output_dir>/checkpoints``.

    Returns:
        the exported image-encoder folder (``AutoModel.from_pretrained`` / any ``--encoder`` of the tools).

    Raises:
        ValueError: no usable item, fewer items than one batch, an invalid config.
        TypeError: unknown option; or the image encoder is not a registry ViT (ResNet-50 cannot be exported as a
            Dinov2Model folder).
    """
    trainer = build_convirt_trainer(config, items_or_datalist, output_dir, **options)
    trainer.run()
    return Path(output_dir).expanduser() / HF_FOLDER

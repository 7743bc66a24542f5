"""ECAMP pretraining on :class:`~raddino_monai.engines.PretrainTrainer`: the pieces the bundle ``bundles/ecamp``
names, and :func:`ecamp_pretrain_job` (items or a datalist in, the exported image-encoder HF folder out).

One source per piece, shared by the bundle and the job: :func:`load_ecamp_items` (image + report items, skipping and
counting those without report text), :func:`ecamp_entity_fn` (the entity sentence: the rule-based CheXpert labeler,
deviation 1 of ``docs/ecamp.md``), :func:`ecamp_tokenizer` (a local tokenizer, or a WordPiece built from the training
reports with the ``text/`` builder), :func:`ecamp_dataloader` (seeded items, resumable sampler) and
:func:`ecamp_handlers` (NaN guard, throughput, atomic checkpoints with exact resume, HF export of the image encoder,
TensorBoard per term, progress bar). Nothing is downloaded: the report decoder is ECAMP's random-init BERT (or a
local folder, ``text_model``).

Output folder of a run::

    <output_dir>/tokenizer/     the WordPiece tokenizer (built once, reused on resume)
    <output_dir>/checkpoints/   checkpoint_<iteration>.pt + run-id sidecars (resume)
    <output_dir>/tensorboard/   loss/loss, loss/loss_mim, loss/loss_sr, loss/loss_mlm, schedule/, grad_norm/
    <output_dir>/encoder_hf/    the image encoder: config.json, model.safetensors, preprocessor_config.json

Example::

    >>> folder = ecamp_pretrain_job("tiny", "data/datalist.json", "runs/ecamp")   # doctest: +SKIP
    >>> # evaluate it like any encoder: tools/linear_probe.py --encoder tiny_vit_p16:runs/ecamp/encoder_hf ...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.data import Dataset, list_data_collate
from torch.utils.data import DataLoader

from raddino_monai.data.datalist import load_datalist
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
from raddino_monai.evaluation.report.entity_sentence import CheXpertEntitySentence
from raddino_monai.ssl.ecamp_config import ECAMPPretrainConfig
from raddino_monai.ssl.ecamp_data import ecamp_transforms
from raddino_monai.ssl.ecamp_meta_arch import ECAMP_LOSS_KEYS, ECAMPMetaArch
from raddino_monai.text.tokenizer import save_tokenizer, train_wordpiece_tokenizer
from raddino_monai.transforms.entity_context import keyword_entity_sentence

__all__ = [
    "ECAMP_NAN_HINT",
    "as_ecamp_config",
    "load_ecamp_items",
    "ecamp_entity_fn",
    "ecamp_tokenizer",
    "ecamp_dataloader",
    "ecamp_handlers",
    "build_ecamp_trainer",
    "ecamp_pretrain_job",
]

logger = logging.getLogger(__name__)

#: what the NaN guard suggests for an ECAMP run
ECAMP_NAN_HINT = "resume from the last one with a lower lr or precision 'fp32' / 'bf16' (fp16 overflows first)."


def as_ecamp_config(config: ECAMPPretrainConfig | str | Mapping[str, Any] | None) -> ECAMPPretrainConfig:
    """A config, a recipe name of :data:`~raddino_monai.ssl.ecamp_config.ECAMP_RECIPES`, a mapping
    ``{"recipe": name, <field or section>: ...}``, or None (``"ecamp"``).

    Raises:
        ValueError: unknown recipe or field (valid names listed).
    """
    if isinstance(config, ECAMPPretrainConfig):
        return config
    if config is None or isinstance(config, str):
        return ECAMPPretrainConfig.from_recipe(config or "ecamp")
    values = dict(config)
    return ECAMPPretrainConfig.from_recipe(values.pop("recipe", "ecamp"), **values)


def load_ecamp_items(
    items_or_datalist: Sequence[Mapping[str, Any]] | str | os.PathLike[str], split: str | None = "training"
) -> tuple[list[dict[str, Any]], int]:
    """Image + report items for ECAMP; items without report text are skipped and counted.

    Args:
        items_or_datalist: items in memory (``image`` paths absolute or relative to the working folder) or a
            datalist file (:func:`~raddino_monai.data.datalist.load_datalist`).
        split: datalist section to read (ignored for items in memory).

    Returns:
        ``(items, n_skipped)``: copies of the kept items.

    Raises:
        ValueError: no item has report text, an item has no ``image``, or only some items have ``sr_region``.
    """
    if isinstance(items_or_datalist, (str, os.PathLike)):
        items = load_datalist(items_or_datalist, split=split, path_keys=("image", "mask", "sr_region"))
        where = str(items_or_datalist)
    else:
        items = [dict(item) for item in items_or_datalist]
        where = "the given items"
    no_image = [i for i, item in enumerate(items) if not item.get("image")]
    if no_image:
        raise ValueError(f"ECAMP items need an 'image'; items {no_image[:10]} of {where} have none.")
    kept = [item for item in items if isinstance(item.get("report"), str) and item["report"].strip()]
    skipped = len(items) - len(kept)
    if not kept:
        raise ValueError(f"No item of {where} has report text under 'report' ({len(items)} items): ECAMP trains on "
                         "image + report pairs (for the embedded sample data use "
                         "raddino_monai.data.synthetic_reports.with_synthetic_reports).")
    with_region = sum("sr_region" in item for item in kept)
    if 0 < with_region < len(kept):
        raise ValueError(f"'sr_region' is set on {with_region} of {len(kept)} items of {where}: give a region map "
                         "for every item or for none (the plain SR loss).")
    if skipped:
        logger.warning("ECAMP: skipped %d of %d items of %s without report text.", skipped, len(items), where)
    return kept, skipped


def ecamp_entity_fn(source: str) -> Callable[[str], str]:
    """The ``report -> entity sentence`` function of ``config.entity_source``.

    Args:
        source: ``"chexpert_labeler"`` (:class:`~raddino_monai.evaluation.report.entity_sentence.
            CheXpertEntitySentence`) or ``"keywords"`` (:func:`~raddino_monai.transforms.keyword_entity_sentence`).

    Raises:
        ValueError: another value (valid values listed).
    """
    table: dict[str, Callable[[], Callable[[str], str]]] = {
        "chexpert_labeler": CheXpertEntitySentence, "keywords": lambda: keyword_entity_sentence,
    }
    if source not in table:
        raise ValueError(f"entity_source={source!r}; valid values: {sorted(table)}.")
    return table[source]()


def ecamp_tokenizer(config: ECAMPPretrainConfig, reports: Sequence[str], folder: str | os.PathLike[str]) -> Any:
    """The run's tokenizer: the local ``text_model``'s, else the one saved in ``folder``, else a WordPiece of
    ``config.tokenizer_vocab_size`` trained on ``reports`` and saved there (ECAMP: its own MIMIC WordPiece,
    ``pretrain_datasets.py`` line 43).

    Raises:
        ValueError: the tokenizer lacks ``[CLS]``, ``[PAD]`` or ``[MASK]``.
    """
    from transformers import AutoTokenizer

    folder = Path(folder)
    if config.text_model is not None:
        tokenizer = AutoTokenizer.from_pretrained(config.text_model, local_files_only=True)
    elif (folder / "tokenizer.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    else:
        tokenizer = train_wordpiece_tokenizer(reports, vocab_size=config.tokenizer_vocab_size, min_frequency=1,
                                              model_max_length=config.text.max_length)
        save_tokenizer(tokenizer, folder)
    missing = [t for t in ("cls_token", "pad_token", "mask_token") if getattr(tokenizer, t, None) is None]
    if missing:
        raise ValueError(f"the ECAMP tokenizer needs {missing} (from {config.text_model or folder}).")
    return tokenizer


def ecamp_dataloader(
    dataset: Any,
    config: ECAMPPretrainConfig,
    num_workers: int = 0,
    world_size: int = 1,
    rank: int = 0,
) -> DataLoader:
    """Seeded, resumable loader over a MONAI dataset of ECAMP items (e.g. ``Dataset(items, ecamp_transforms(...))``):
    each item's draws derive from ``(config.seed, epoch, index)``
    (:class:`~raddino_monai.data.samplers.SeededDataset`), the order from ``(seed, epoch)``; ``drop_last`` as ECAMP
    (``main_pretrain.py`` line 228). The batch is ``min(batch_size_per_gpu, items per rank)`` so a small datalist
    still gives one batch per epoch.

    Raises:
        ValueError: an empty dataset.
    """
    if len(dataset) == 0:
        raise ValueError("ecamp_dataloader: the dataset is empty.")
    sampler = ResumableDistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=config.seed)
    batch = min(config.optim.batch_size_per_gpu, max(1, len(dataset) // world_size))
    return DataLoader(SeededDataset(dataset, seed=config.seed), batch_size=batch, sampler=sampler,
                      num_workers=num_workers, collate_fn=list_data_collate, drop_last=True,
                      pin_memory=torch.cuda.is_available(),
                      generator=torch.Generator().manual_seed(config.seed))  # worker seeds off the global RNG


def ecamp_handlers(
    output_dir: str | os.PathLike[str],
    save_interval: int = 500,
    export_interval: int = 0,
    log_interval: int = 10,
    n_saved: int = 3,
    model_path: str | os.PathLike[str] | None = None,
) -> list[Any]:
    """The handlers of an ECAMP run (the same guarantees as the RAD-DINO bundle's).

    Args:
        output_dir: run folder (``checkpoints/``, ``encoder_hf/``, ``tensorboard/`` inside).
        save_interval: iterations between checkpoints (and one at the end).
        export_interval: iterations between HF exports of the encoder (0: only at the end).
        log_interval: iterations between TensorBoard writes.
        n_saved: checkpoints kept.
        model_path: optional bundle ``model.pt`` written with each export.
    """
    out = Path(output_dir)
    return [
        NaNGuard(hint=ECAMP_NAN_HINT),
        ThroughputMonitor(),
        SSLCheckpointHandler(save_dir=out / "checkpoints", save_interval=save_interval, n_saved=n_saved, resume=True),
        TeacherExportHandler(hf_dir=out / "encoder_hf", interval=export_interval, model_path=model_path),
        SSLTensorBoardHandler(log_dir=out / "tensorboard", interval=log_interval, monitors=()),
        SSLProgressBar(terms=ECAMP_LOSS_KEYS),
    ]


def build_ecamp_trainer(
    config: ECAMPPretrainConfig | str | Mapping[str, Any] | None,
    items_or_datalist: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    save_interval: int = 500,
    log_interval: int = 10,
    split: str | None = "training",
) -> PretrainTrainer:
    """The :class:`~raddino_monai.engines.PretrainTrainer` of an ECAMP run (see :func:`ecamp_pretrain_job`).

    Seeds the global torch RNG with ``config.seed`` ([ECAMP] ``main_pretrain.py`` line 190, ``torch.manual_seed``):
    dropout draws from it; a resumed run restores the checkpoint's RNG state over it.
    """
    cfg = as_ecamp_config(config)
    items, _ = load_ecamp_items(items_or_datalist, split=split)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    entity_fn = ecamp_entity_fn(cfg.entity_source)
    tokenizer = ecamp_tokenizer(cfg, [i["report"] for i in items] + [entity_fn(i["report"]) for i in items],
                                out / "tokenizer")
    meta = ECAMPMetaArch.from_config(cfg, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    region = "sr_region" if "sr_region" in items[0] else None
    transform = ecamp_transforms(cfg, tokenizer, entity_fn, meta.model.backbone.patch_size, region_key=region)
    loader = ecamp_dataloader(Dataset(items, transform=transform), cfg, num_workers=num_workers)
    torch.manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(meta.param_groups(), lr=cfg.optim.lr, betas=cfg.optim.betas,
                                  weight_decay=cfg.optim.weight_decay)
    return PretrainTrainer(
        device, max_epochs=cfg.schedule.epochs, train_data_loader=loader, network=meta.to(device),
        optimizer=optimizer, schedules=cfg.build_schedules(len(loader)),
        precision=cfg.optim.precision_on(device.type), clip_grad=cfg.optim.clip_grad,
        train_handlers=ecamp_handlers(out, save_interval=save_interval, log_interval=log_interval),
        run_lock=RunLock(out), batch_size_key="image",
    )


def ecamp_pretrain_job(
    config: ECAMPPretrainConfig | str | Mapping[str, Any] | None,
    items_or_datalist: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    save_interval: int = 500,
    log_interval: int = 10,
    split: str | None = "training",
) -> Path:
    """Pretrain ECAMP and export its image encoder as an HF folder that every evaluation tool takes.

    Args:
        config: :class:`~raddino_monai.ssl.ecamp_config.ECAMPPretrainConfig`, a recipe name (``"ecamp"``,
            ``"tiny"``) or a mapping ``{"recipe": ..., <overrides>}`` (:func:`as_ecamp_config`).
        items_or_datalist: image + report items in memory or a datalist file (``split`` section); items without
            report text are skipped and counted; optional ``entity_context`` and ``sr_region`` keys.
        output_dir: run folder (layout in the module docstring); a rerun resumes from its last checkpoint, a second
            live run in it is refused (``RunLock``).
        device: training device (default CUDA when available).
        num_workers: data-loading worker processes.
        save_interval: iterations between checkpoints.
        log_interval: iterations between TensorBoard writes.
        split: datalist section.

    Returns:
        ``<output_dir>/encoder_hf``: ``config.json`` + ``model.safetensors`` + ``preprocessor_config.json``; load it
        as ``"<config.backbone>:<folder>"`` (e.g. ``mae_vitb16:runs/ecamp/encoder_hf``) in the evaluation tools.

    Raises:
        ValueError: bad config or items (see :func:`load_ecamp_items`).
        RunLockedError: another live run holds ``output_dir``.
    """
    trainer = build_ecamp_trainer(config, items_or_datalist, output_dir, device=device, num_workers=num_workers,
                                  save_interval=save_interval, log_interval=log_interval, split=split)
    trainer.run()
    return Path(output_dir) / "encoder_hf"

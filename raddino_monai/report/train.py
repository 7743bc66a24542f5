"""Train a report model on cached encoder tokens: resumable, checkpointed, logged; the result is a saved model folder.

``output_dir`` receives ``train_config.json`` (the resolved settings), ``checkpoints/checkpoint_<step>.pt`` (trained
parameters, optimizer, RNG; atomic, the last ``n_saved`` kept), ``tb/`` (TensorBoard: ``loss/loss``,
``schedule/lr``, ``schedule/projector_lr``, ``grad_norm/trainable``, ``throughput/images_per_s``) and, when the run
completes, ``model/`` (:func:`~raddino_monai.report.saving.save_report_model`). Running the same call again resumes
from the newest good checkpoint and reproduces the uninterrupted run (the data order and dropout depend only on the
seed and the step); a finished ``model/`` is never overwritten.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from torch.utils.data import DataLoader

from raddino_monai.data.samplers import ResumableDistributedSampler, SeededDataset
from raddino_monai.engines.handlers import NaNGuard, SSLProgressBar, SSLTensorBoardHandler, ThroughputMonitor
from raddino_monai.report.config import ReportTrainConfig
from raddino_monai.report.data import ReportCollate, ReportPairs
from raddino_monai.report.model import ReportGenerator
from raddino_monai.report.modes import apply_training_mode, build_optimizer
from raddino_monai.report.saving import save_report_model
from raddino_monai.report.trainer import ReportCheckpointHandler, ReportTrainer

__all__ = ["REPORT_NAN_HINT", "build_report_trainer", "train_report_model"]

logger = logging.getLogger(__name__)

#: advice in the error raised by ``NaNGuard`` during report training
REPORT_NAN_HINT = "resume from the last one with a lower lr, precision 'fp32', or a smaller max_grad_norm."


class _SeedAtStart:
    """Seed torch (dropout, LoRA dropout) when a run starts; attached first, so resuming then restores the checkpoint's
    RNG state over it."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def attach(self, engine: Any) -> None:
        engine.add_event_handler(Events.STARTED, lambda _: torch.manual_seed(self.seed))


def build_report_trainer(
    model: ReportGenerator,
    items: Sequence[Mapping[str, Any]],
    output_dir: str | Path,
    config: ReportTrainConfig,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> ReportTrainer:
    """Set the training mode, and build the loader, optimizer, trainer and handlers (without running).

    Args:
        model: the report model (its mode is applied here, see :func:`~raddino_monai.report.modes.apply_training_mode`).
        items: ``{"id", "features" (N, D), "report"}`` dicts.
        output_dir: run folder (checkpoints, TensorBoard).
        config: training settings.
        device: torch device.
        progress: attach a progress bar.

    Returns:
        the trainer; ``trainer.run()`` trains (resuming from ``output_dir/checkpoints`` if there are any).
    """
    output_dir = Path(output_dir)
    model.to(device)
    optimizer = build_optimizer(apply_training_mode(model, config), config)
    dataset = SeededDataset(ReportPairs(items), seed=config.seed)
    sampler = ResumableDistributedSampler(len(dataset), shuffle=True, seed=config.seed, num_replicas=1, rank=0)
    # its own generator: starting a loader iterator (as a resumed run does mid-epoch) must not draw from the global
    # RNG that dropout uses, or a resumed run would diverge from the uninterrupted one
    loader = DataLoader(dataset, batch_size=config.global_batch_size, sampler=sampler, num_workers=config.num_workers,
                        collate_fn=ReportCollate(model.tokenizer, model.config),
                        generator=torch.Generator().manual_seed(config.seed))
    epoch_length = len(loader)
    handlers: list[Any] = [
        _SeedAtStart(config.seed),
        ThroughputMonitor(),
        ReportCheckpointHandler(output_dir / "checkpoints", save_interval=config.save_interval,
                                n_saved=config.n_saved),
        NaNGuard(hint=REPORT_NAN_HINT),
        SSLTensorBoardHandler(output_dir / "tb", interval=config.log_interval),
    ]
    if progress:
        handlers.append(SSLProgressBar(persist=True, desc="report training"))
    return ReportTrainer(device, config.epochs, loader, model, optimizer, config,
                         total_steps=config.epochs * epoch_length, epoch_length=epoch_length, train_handlers=handlers)


def train_report_model(
    model: ReportGenerator,
    items: Sequence[Mapping[str, Any]],
    output_dir: str | Path,
    config: ReportTrainConfig | None = None,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Path:
    """Train ``model`` on image-report pairs and save it to ``output_dir/model``.

    Args:
        model: the report model (projector at init or pretrained, LM as loaded).
        items: ``{"id", "features" (N, D), "report"}`` dicts
            (:func:`~raddino_monai.report.data.pair_features_with_reports`).
        output_dir: run folder (see the module docstring).
        config: training settings (default :class:`ReportTrainConfig`: [PAPER]'s full fine-tune).
        device: torch device.
        progress: show a progress bar.

    Returns:
        the saved model folder.

    Raises:
        FileExistsError: ``output_dir/model`` exists (the run finished before).
        ValueError: a training config that differs from the one of the checkpoints in ``output_dir``.

    Example::

        >>> lm, tok = load_causal_lm("smollm2")
        >>> model = ReportGenerator(lm, tok, feature_dim=192, lm_source="smollm2", encoder_ref=ref)
        >>> train_report_model(model, items, "runs/report", ReportTrainConfig(mode="projector"))
    """
    config = config or ReportTrainConfig()
    output_dir = Path(output_dir)
    final = output_dir / "model"
    if final.exists():
        raise FileExistsError(f"{final} exists: this run is finished; use a new output_dir (nothing is overwritten).")
    output_dir.mkdir(parents=True, exist_ok=True)
    settings = {"train": config.to_dict(), "model": model.config.to_dict(), "lm": model.lm_source,
                "encoder": model.encoder_ref.to_dict() if model.encoder_ref is not None else None,
                "n_items": len(items)}
    settings = json.loads(json.dumps(settings))
    settings_file = output_dir / "train_config.json"
    if settings_file.is_file() and (output_dir / "checkpoints").is_dir():
        old = json.loads(settings_file.read_text())
        if old != settings:
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise ValueError(f"{output_dir} holds checkpoints of a run with other settings ({diff}); use a new "
                             "output_dir.")
    settings_file.write_text(json.dumps(settings, indent=2))
    trainer = build_report_trainer(model, items, output_dir, config, device=device, progress=progress)
    trainer.run()
    logger.info("Report training finished after %d steps; truncated reports: %d", trainer.state.iteration,
                trainer.data_loader.collate_fn.truncated)
    return save_report_model(model, final)

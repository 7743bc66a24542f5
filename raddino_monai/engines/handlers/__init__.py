"""Handlers for :class:`~raddino_monai.engines.SSLTrainer` and :class:`~raddino_monai.engines.PretrainTrainer` (one
per file; side effects on rank 0 only).

* :class:`SSLCheckpointHandler` (:mod:`.checkpoint`): atomic checkpoints, keep-last-N, exact resume.
* :class:`CollapseMonitor` (:mod:`.collapse`): warn when the DINO teacher targets stay uniform (silent collapse).
* :class:`NaNGuard` (:mod:`.nan_guard`): stop at the first non-finite loss / gradient norm, before the step.
* :class:`SSLTensorBoardHandler` (:mod:`.tensorboard`): loss terms, schedules, collapse monitors, throughput.
* :class:`ThroughputMonitor` (:mod:`.throughput`): images/s and data-wait share.
* :class:`SSLProgressBar` (:mod:`.progress`): tqdm progress bar with the loss.
* :class:`TeacherExportHandler` (:mod:`.export`): the model's ``exported_backbone()`` (SSL: the teacher) as an HF
  folder and a bundle ``model.pt``.
* :class:`TeacherSnapshots` (:mod:`.snapshots`): in-memory copies of the teacher backbone, for probe curves.
* :class:`BadFileHandler` (:mod:`.bad_files`): count skipped unreadable files, write ``bad_files.csv``, stop at a
  maximum share (every rank together).
* :class:`RunLock` (:mod:`.run_lock`): one run per output folder (a context the trainer holds during ``run()``).
"""

from __future__ import annotations

from raddino_monai.engines.handlers.bad_files import DEFAULT_MAX_BAD_FRACTION, BadFileHandler
from raddino_monai.engines.handlers.checkpoint import (
    EXISTING_CHECKPOINT_POLICIES,
    CheckpointFolderError,
    CheckpointWriteError,
    ResumeMismatchError,
    SSLCheckpointHandler,
    capture_rng_state,
    checkpoint_run_id,
    find_checkpoints,
    latest_checkpoint,
    restore_rng_state,
)
from raddino_monai.engines.handlers.collapse import CollapseMonitor
from raddino_monai.engines.handlers.export import TeacherExportHandler
from raddino_monai.engines.handlers.nan_guard import NaNGuard, NonFiniteLossError
from raddino_monai.engines.handlers.progress import SSLProgressBar
from raddino_monai.engines.handlers.run_lock import LOCK_NAME, RunLock, RunLockedError, read_lock_holder
from raddino_monai.engines.handlers.snapshots import TeacherSnapshots
from raddino_monai.engines.handlers.tensorboard import SSLTensorBoardHandler
from raddino_monai.engines.handlers.throughput import ThroughputMonitor

__all__ = [
    "BadFileHandler",
    "DEFAULT_MAX_BAD_FRACTION",
    "EXISTING_CHECKPOINT_POLICIES",
    "CheckpointFolderError",
    "ResumeMismatchError",
    "CheckpointWriteError",
    "LOCK_NAME",
    "RunLock",
    "RunLockedError",
    "read_lock_holder",
    "checkpoint_run_id",
    "CollapseMonitor",
    "NaNGuard",
    "NonFiniteLossError",
    "SSLCheckpointHandler",
    "SSLProgressBar",
    "SSLTensorBoardHandler",
    "TeacherExportHandler",
    "TeacherSnapshots",
    "ThroughputMonitor",
    "capture_rng_state",
    "find_checkpoints",
    "latest_checkpoint",
    "restore_rng_state",
]

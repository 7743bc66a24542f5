"""BadFileHandler: count the bad files a training run skipped, write them to its outputs, stop at a maximum share.

Training reads its data through :class:`~raddino_monai.data.bad_files.SkipBadFiles` (``substitute=True``): an item
that fails to load is replaced by the next one that loads, so batch size, epoch length and the resumed data order
never change, and the markers reach the main process in the batch (``batch["bad_files"]``, put there by
:class:`~raddino_monai.data.collate.SSLCollate`). This handler records them in a
:class:`~raddino_monai.data.bad_files.BadFileLog` at ``GET_BATCH_COMPLETED``, i.e. before the step: each path and
reason is logged once and ``<output_dir>/bad_files.csv`` (+ ``.json``) is rewritten; bad files the dataset dropped
while caching (:class:`~raddino_monai.data.datasets.CXRCacheDataset`) are recorded at ``STARTED``. A resumed run
continues the count of the file it finds. Once more than ``max_bad_fraction`` of the datalist is bad the run stops
with :class:`~raddino_monai.data.bad_files.TooManyBadFilesError`, naming the first bad file; the checkpoints
written so far are untouched. Under ``torch.distributed`` the stop decision is all-reduced (MAX), so every rank stops
at the same iteration with the same kind of error; each rank writes the files it met (rank 0: ``bad_files.csv``,
rank r: ``bad_files.rank<r>.csv``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch.distributed as dist
from ignite.engine import Engine, Events

from raddino_monai.data.bad_files import BAD_FILES_KEY, BadFileLog, SkipBadFiles, TooManyBadFilesError
from raddino_monai.engines.handlers._rank import is_distributed, ranks_with

__all__ = ["BadFileHandler", "DEFAULT_MAX_BAD_FRACTION"]

#: default share of unreadable datalist items a training run skips before it stops (ours: 1 %, enough for the odd
#: truncated download of a large datalist, small enough that a wrong folder or a broken mount stops the run early)
DEFAULT_MAX_BAD_FRACTION = 0.01


class BadFileHandler:
    """Record skipped bad files of a training run and stop it when too many are bad.

    Args:
        output_dir: the run's output folder (``bad_files.csv`` / ``.json`` go there); ``None``: only logged.
        dataset: the :class:`SkipBadFiles` training dataset (gives the datalist length and the files it dropped
            while caching), or the datalist length as an int.
        max_bad_fraction: largest share of bad datalist items that is skipped (0: stop at the first one);
            default :data:`DEFAULT_MAX_BAD_FRACTION`.

    Attributes:
        log: the :class:`BadFileLog` of this run.

    Example::

        >>> BadFileHandler("runs/raddino", dataset=train_ds, max_bad_fraction=0.01).attach(trainer)
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str] | None,
        dataset: SkipBadFiles | int,
        max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION,
    ) -> None:
        total = dataset.total if isinstance(dataset, SkipBadFiles) else int(dataset)
        self.dataset = dataset if isinstance(dataset, SkipBadFiles) else None
        self.output_dir = Path(output_dir) if output_dir is not None else None
        rank = dist.get_rank() if is_distributed() else 0
        name = "bad_files.csv" if rank == 0 else f"bad_files.rank{rank}.csv"
        self.log = BadFileLog(total, max_bad_fraction, self.output_dir / name if self.output_dir else None,
                              what="datalist items")

    def attach(self, engine: Engine) -> None:
        """Register the start-up records (STARTED) and the per-batch check (GET_BATCH_COMPLETED)."""
        engine.add_event_handler(Events.STARTED, self.start)
        engine.add_event_handler(Events.GET_BATCH_COMPLETED, self.on_batch)

    def start(self, engine: Engine) -> None:
        """Continue the count of a resumed run, record the files dropped while caching, and check the share.

        Raises:
            TooManyBadFilesError: more than ``max_bad_fraction`` bad already.
        """
        if engine.state.iteration > 0 and self.log.path is not None:  # resumed (the checkpoint handler ran first)
            self.log.record(BadFileLog.read(self.log.path), check=False)
        if self.dataset is not None:
            self.log.record(self.dataset.dropped, check=False)
        self._stop_if_exceeded()

    def on_batch(self, engine: Engine) -> None:
        """Record the batch's bad files; stop (every rank together) when more than the maximum share is bad.

        Raises:
            TooManyBadFilesError: more than ``max_bad_fraction`` of the datalist is bad (on any rank).
        """
        batch: Any = engine.state.batch
        if isinstance(batch, dict):
            self.log.record(batch.pop(BAD_FILES_KEY, None), check=False)
        self._stop_if_exceeded()

    def _stop_if_exceeded(self) -> None:
        flag = self.log.exceeded()
        ranks = ranks_with(flag)  # every rank decides together
        if flag:
            raise TooManyBadFilesError(self.log)
        if ranks:
            raise RuntimeError(
                f"stopping: rank(s) {ranks} skipped more than max_bad_fraction={self.log.max_bad_fraction} of the "
                f"datalist as unreadable (their bad_files*.csv in {self.output_dir} lists them); this rank met "
                f"{self.log.count}."
            )

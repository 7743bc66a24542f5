"""SSLTensorBoardHandler: scalars of an :class:`~raddino_monai.engines.SSLTrainer` or
:class:`~raddino_monai.engines.PretrainTrainer` run (rank 0).

Logged every ``interval`` iterations under ``loss/`` (each weighted term and the total), ``monitor/`` (the scalars
named in ``monitors``: by default the SSL collapse monitors, teacher-output entropy and unweighted KoLeo;
``monitor/teacher_entropy_uniform`` = ln K, the entropy of uniform targets, when ``n_prototypes`` is given), ``schedule/`` (lr, weight decay, teacher momentum, teacher temperature,
last-layer lr), ``grad_norm/`` (pre-clip, per student submodule) and ``throughput/`` (images/s, data-wait share).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence

from ignite.engine import Engine, Events
from torch.utils.tensorboard import SummaryWriter

from raddino_monai.engines.handlers._rank import is_main_process

__all__ = ["SSLTensorBoardHandler", "SSL_MONITORS"]

#: the SSL model's monitor scalars (logged under ``monitor/``, not ``loss/``)
SSL_MONITORS: tuple[str, ...] = ("teacher_entropy", "koleo_raw")


class SSLTensorBoardHandler:
    """Write SSL scalars to TensorBoard.

    Args:
        log_dir: event-file folder.
        interval: iterations between writes.
        n_prototypes: K of the DINO head; when given, ln K (the teacher entropy of uniform targets, the silent
            collapse level) is logged next to ``monitor/teacher_entropy`` so that run reports can draw it.
        monitors: output scalars logged under ``monitor/`` instead of ``loss/`` (e.g. a temperature or an in-batch
            retrieval accuracy); default :data:`SSL_MONITORS`.

    Raises:
        ValueError: ``interval < 1`` or ``n_prototypes < 2``.

    Example::

        >>> SSLTensorBoardHandler("runs/tb", interval=10, n_prototypes=65536).attach(trainer)
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        interval: int = 10,
        n_prototypes: int | None = None,
        monitors: Sequence[str] = SSL_MONITORS,
    ) -> None:
        if interval < 1:
            raise ValueError(f"interval must be >= 1, found {interval}.")
        if n_prototypes is not None and n_prototypes < 2:
            raise ValueError(f"n_prototypes must be >= 2 (or None), found {n_prototypes}.")
        self.log_dir, self.interval = str(log_dir), interval
        self.ln_k = math.log(n_prototypes) if n_prototypes is not None else None
        self.monitors = frozenset(monitors)
        self.writer: SummaryWriter | None = None

    def attach(self, engine: Engine) -> None:
        """Register the writer on rank 0 only."""
        if not is_main_process():
            return
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self.write)
        engine.add_event_handler(Events.COMPLETED, self.close)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self.close_on_error)

    def write(self, engine: Engine) -> None:
        """Log the current iteration's scalars."""
        if self.writer is None:
            self.writer = SummaryWriter(log_dir=self.log_dir)
        step, output = engine.state.iteration, engine.state.output
        for name, value in output.get("losses", {}).items():
            self.writer.add_scalar(f"{'monitor' if name in self.monitors else 'loss'}/{name}", value, step)
        if self.ln_k is not None and "teacher_entropy" in output.get("losses", {}):
            self.writer.add_scalar("monitor/teacher_entropy_uniform", self.ln_k, step)
        schedule = output.get("schedule")
        if schedule is not None:
            for name, value in dataclasses.asdict(schedule).items():
                self.writer.add_scalar(f"schedule/{name}", value, step)
        for name, value in output.get("grad_norms", {}).items():
            self.writer.add_scalar(f"grad_norm/{name}", value, step)
        for name in ("images_per_s", "data_wait_share"):
            value = getattr(engine.state, "throughput", {}).get(name)
            if value is not None:
                self.writer.add_scalar(f"throughput/{name}", value, step)

    def close(self, engine: Engine) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def close_on_error(self, engine: Engine, error: BaseException) -> None:
        """Close the writer, then let the exception propagate."""
        self.close(engine)
        raise error

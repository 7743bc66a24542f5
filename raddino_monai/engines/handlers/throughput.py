"""ThroughputMonitor: training images per second and the share of each step spent waiting for data.

Timing uses ignite's ``GET_BATCH_STARTED``/``GET_BATCH_COMPLETED`` (data wait) and ``ITERATION_STARTED``/
``ITERATION_COMPLETED`` (compute). Results go to ``engine.state.throughput`` as running totals and the last
window's values, read by :class:`~raddino_monai.engines.handlers.tensorboard.SSLTensorBoardHandler` and
``tools/ssl_evidence.py``.
"""

from __future__ import annotations

import time

from ignite.engine import Engine, Events

__all__ = ["ThroughputMonitor"]


class ThroughputMonitor:
    """Accumulate data-wait and compute time; ``engine.state.throughput`` holds
    ``{"images_per_s", "data_wait_share", "images", "seconds"}`` over the whole run (first ``warmup`` iterations
    excluded, they include one-off start-up costs).

    Args:
        warmup: iterations not counted.
    """

    def __init__(self, warmup: int = 1) -> None:
        self.warmup = warmup
        self._t0 = self._t_batch = time.perf_counter()
        self._data_wait = 0.0
        self.data_time = self.step_time = 0.0
        self.images = 0

    def attach(self, engine: Engine) -> None:
        """Register the timers."""
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._batch_started)
        engine.add_event_handler(Events.GET_BATCH_COMPLETED, self._batch_completed)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.state.throughput = self.summary()  # type: ignore[attr-defined]

    def _batch_started(self, engine: Engine) -> None:
        self._t0 = time.perf_counter()

    def _batch_completed(self, engine: Engine) -> None:
        now = time.perf_counter()
        self._data_wait = now - self._t0
        self._t_batch = now

    def _iteration_completed(self, engine: Engine) -> None:
        step = time.perf_counter() - self._t_batch
        if engine.state.iteration > self.warmup:
            self.data_time += self._data_wait
            self.step_time += step
            output = engine.state.output if isinstance(engine.state.output, dict) else {}
            self.images += int(output.get("batch_size", 0))
        engine.state.throughput = self.summary()  # type: ignore[attr-defined]

    def summary(self) -> dict[str, float]:
        """Images/s (this rank) and data-wait share of the wall time since ``warmup``."""
        total = self.data_time + self.step_time
        return {
            "images_per_s": self.images / total if total > 0 else 0.0,
            "data_wait_share": self.data_time / total if total > 0 else 0.0,
            "images": float(self.images),
            "seconds": total,
        }

"""NaNGuard: stop SSL training at the first non-finite loss or gradient norm, before the optimizer step.

DINOv2 asserts on NaN losses ([DV2] ``train.py``); KoLeo inf (dinov2 #314) and fp16 overflow (DINO #58) are the
usual causes. The guard raises :class:`NonFiniteLossError` from ``LOSS_COMPLETED`` (loss terms) or
``BACKWARD_COMPLETED`` (pre-clip gradient norms; skipped under fp16, where the GradScaler skips such steps itself),
so the weights are never updated with non-finite values and checkpoints already written stay the last good ones.
"""

from __future__ import annotations

import math
from typing import Any

from ignite.engine import Engine
from monai.engines.utils import IterationEvents

__all__ = ["NaNGuard", "NonFiniteLossError", "SSL_HINT"]


class NonFiniteLossError(RuntimeError):
    """A loss term or gradient norm became NaN/inf; the message names them and the iteration."""


#: what to try after a non-finite SSL loss (the default advice of :class:`NaNGuard`)
SSL_HINT = (
    "resume from the last one with a lower lr, precision 'fp32'/'bf16', a larger per-GPU batch (KoLeo needs >= 2 "
    "distinct images), or koleo_loss_weight 0."
)


class NaNGuard:
    """Raise :class:`NonFiniteLossError` on non-finite losses or gradient norms.

    Args:
        hint: what the error message advises after "checkpoints written so far are intact: " (default: the SSL
            advice :data:`SSL_HINT`; other trainers pass their own).

    Example::

        >>> NaNGuard().attach(trainer)  # or list it in train#handlers of the bundle
    """

    def __init__(self, hint: str = SSL_HINT) -> None:
        self.hint = hint

    def attach(self, engine: Engine) -> None:
        """Register the checks on ``engine``'s iteration events."""
        engine.add_event_handler(IterationEvents.LOSS_COMPLETED, self.check_losses)
        engine.add_event_handler(IterationEvents.BACKWARD_COMPLETED, self.check_gradients)

    def _fail(self, engine: Engine, what: str, values: dict[str, float]) -> None:
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        schedule = engine.state.output.get("schedule") if isinstance(engine.state.output, dict) else None
        raise NonFiniteLossError(
            f"Non-finite {what} at iteration {engine.state.iteration} (epoch {engine.state.epoch}): {bad}; all "
            f"values: {values}; schedule: {schedule}. Training stopped before the optimizer step, so checkpoints "
            f"written so far are intact: {self.hint}"
        )

    def check_losses(self, engine: Engine) -> None:
        """``LOSS_COMPLETED``: every loss term and monitor must be finite."""
        output: dict[str, Any] = engine.state.output
        losses = output.get("losses", {})
        if not all(math.isfinite(v) for v in losses.values()):
            self._fail(engine, "loss", losses)

    def check_gradients(self, engine: Engine) -> None:
        """``BACKWARD_COMPLETED``: pre-clip gradient norms must be finite (unless a GradScaler handles overflow)."""
        if getattr(engine, "grad_scaler", None) is not None:
            return
        norms = engine.state.output.get("grad_norms", {})
        if not all(math.isfinite(v) for v in norms.values()):
            self._fail(engine, "gradient norm", norms)

"""NaNGuard: stop SSL training at the first non-finite loss or gradient norm, before the optimizer step.

DINOv2 asserts on NaN losses ([DV2] ``train.py``); KoLeo inf (dinov2 #314) and fp16 overflow (DINO #58) are the
usual causes. The guard raises :class:`NonFiniteLossError` from ``LOSS_COMPLETED`` (loss terms) or
``BACKWARD_COMPLETED`` (pre-clip gradient norms; skipped under fp16, where the GradScaler skips such steps itself),
so the weights are never updated with non-finite values and checkpoints already written stay the last good ones.

Under ``torch.distributed`` the finite flag is all-reduced at both checks (one tiny collective each, on every rank,
every iteration) before anyone raises: a NaN on one rank stops every rank at the same point, before the backward
pass and its gradient all-reduce, with the same message naming the ranks that saw it (each of those also logs its
own values). Without this a rank raising alone leaves the others waiting in the next collective until the
process-group timeout.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ignite.engine import Engine
from monai.engines.utils import IterationEvents

from raddino_monai.engines.handlers._rank import is_distributed, ranks_with

__all__ = ["NaNGuard", "NonFiniteLossError", "SSL_HINT"]

logger = logging.getLogger(__name__)


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

    def _check(self, engine: Engine, what: str, values: dict[str, float]) -> None:
        """Agree with every rank whether any value is non-finite; if so, raise on all of them."""
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        ranks = ranks_with(bool(bad))
        if not ranks:
            return
        schedule = engine.state.output.get("schedule") if isinstance(engine.state.output, dict) else None
        if bad:
            logger.error("Non-finite %s on this rank at iteration %d: %s; all values: %s; schedule: %s", what,
                         engine.state.iteration, bad, values, schedule)
        if is_distributed():  # one message on every rank; the ranks that saw the values logged them
            found = f" on rank(s) {ranks} (their logs list the values)"
        else:
            found = f": {bad}; all values: {values}; schedule: {schedule}"
        raise NonFiniteLossError(
            f"Non-finite {what} at iteration {engine.state.iteration} (epoch {engine.state.epoch}){found}. "
            f"Training stopped on every rank before the optimizer step, so checkpoints written so far are intact: "
            f"{self.hint}"
        )

    def check_losses(self, engine: Engine) -> None:
        """``LOSS_COMPLETED``: every loss term and monitor must be finite (on every rank)."""
        output: dict[str, Any] = engine.state.output
        self._check(engine, "loss", output.get("losses", {}))

    def check_gradients(self, engine: Engine) -> None:
        """``BACKWARD_COMPLETED``: pre-clip gradient norms must be finite (unless a GradScaler handles overflow)."""
        if getattr(engine, "grad_scaler", None) is not None:
            return
        self._check(engine, "gradient norm", engine.state.output.get("grad_norms", {}))


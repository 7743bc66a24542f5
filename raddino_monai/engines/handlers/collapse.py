"""CollapseMonitor: name the silent failure of the DINO term, uniform teacher targets (rank 0).

The DINO term has two collapse modes (DINO, Caron et al. 2021, §5.3): one prototype dominating (teacher entropy -> 0,
which centring prevents) and uniform targets (teacher entropy -> ln K, when centring wins over sharpening). The second
is silent: the loss just sits at ln K and no CLS-level signal reaches the student. Tiny per-GPU batches are the usual
cause (dinov2 #173, #298; ``docs/ssl_evidence.md`` for a CPU example). This handler logs a warning when the teacher
entropy monitor stays within ``tolerance`` of ln K for ``patience`` consecutive iterations; it never stops training.
"""

from __future__ import annotations

import logging
import math

from ignite.engine import Engine, Events

from raddino_monai.engines.handlers._rank import is_main_process

__all__ = ["CollapseMonitor"]

logger = logging.getLogger(__name__)


class CollapseMonitor:
    """Warn once per episode when the DINO teacher targets are uniform.

    Args:
        n_prototypes: K, the DINO head's output size (ln K is the entropy of uniform targets).
        tolerance: warn when ``teacher_entropy >= (1 - tolerance) * ln K``.
        patience: consecutive iterations at that level before warning.

    Raises:
        ValueError: ``n_prototypes < 2``, ``tolerance`` outside (0, 1) or ``patience < 1``.

    Example::

        >>> CollapseMonitor(n_prototypes=65536, patience=200).attach(trainer)  # or in train#handlers of a bundle
    """

    def __init__(self, n_prototypes: int, tolerance: float = 0.01, patience: int = 100) -> None:
        if n_prototypes < 2 or not 0.0 < tolerance < 1.0 or patience < 1:
            raise ValueError(
                f"CollapseMonitor needs n_prototypes >= 2, 0 < tolerance < 1 and patience >= 1; found {n_prototypes}, "
                f"{tolerance}, {patience}."
            )
        self.ln_k = math.log(n_prototypes)
        self.threshold = (1.0 - tolerance) * self.ln_k
        self.patience = patience
        self.run_length = 0
        self.warned_at: list[int] = []

    def attach(self, engine: Engine) -> None:
        """Check after every iteration, on rank 0 only."""
        if is_main_process():
            engine.add_event_handler(Events.ITERATION_COMPLETED, self.check)

    def check(self, engine: Engine) -> None:
        """Count iterations at the uniform level; warn when the count reaches ``patience``."""
        entropy = engine.state.output.get("losses", {}).get("teacher_entropy")
        if entropy is None:
            return
        self.run_length = self.run_length + 1 if entropy >= self.threshold else 0
        if self.run_length == self.patience:
            self.warned_at.append(engine.state.iteration)
            logger.warning(
                "DINO teacher entropy has been >= %.3f (ln K = %.3f) for %d iterations up to iteration %d: the "
                "teacher targets are uniform and the CLS token gets no DINO signal. Usual causes: a small per-GPU "
                "batch, a teacher temperature that is too high, LayerScale 1e-5 on a small model trained from "
                "scratch; see docs/ssl_evidence.md.",
                self.threshold, self.ln_k, self.patience, engine.state.iteration,
            )

"""SSLProgressBar: a tqdm progress bar (ignite ``ProgressBar``) showing the running SSL loss, rank 0 only."""

from __future__ import annotations

from typing import Any

from ignite.engine import Engine

from raddino_monai.engines.handlers._rank import is_main_process

try:  # ignite >= 0.4.? exposes it in ignite.handlers; 0.4.11 (MONAI Label environment) in ignite.contrib.handlers
    from ignite.handlers import ProgressBar
except ImportError:  # pragma: no cover - depends on the installed ignite
    from ignite.contrib.handlers import ProgressBar

__all__ = ["SSLProgressBar"]


def _loss_items(output: Any) -> dict[str, float]:
    losses = output.get("losses", {}) if isinstance(output, dict) else {}
    return {k: v for k, v in losses.items() if k in ("loss", "dino", "ibot", "koleo")}


class SSLProgressBar:
    """Attach a progress bar with the total loss and its terms.

    Args:
        persist: keep the bar on screen after each epoch.
        kwargs: other ignite ``ProgressBar`` arguments (``ncols``, ``desc``...).
    """

    def __init__(self, persist: bool = False, **kwargs: Any) -> None:
        self.bar = ProgressBar(persist=persist, **kwargs)

    def attach(self, engine: Engine) -> None:
        """Attach on rank 0 only."""
        if is_main_process():
            self.bar.attach(engine, output_transform=_loss_items)

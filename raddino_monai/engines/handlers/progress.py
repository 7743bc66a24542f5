"""SSLProgressBar: a tqdm progress bar (ignite ``ProgressBar``) showing the running loss and its terms, rank 0 only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ignite.engine import Engine

from raddino_monai.engines.handlers._rank import is_main_process

try:  # ignite >= 0.4.? exposes it in ignite.handlers; 0.4.11 (MONAI Label environment) in ignite.contrib.handlers
    from ignite.handlers import ProgressBar
except ImportError:  # pragma: no cover - depends on the installed ignite
    from ignite.contrib.handlers import ProgressBar

__all__ = ["SSLProgressBar", "SSL_BAR_TERMS"]


#: output scalars shown by default: the total and the SSL terms
SSL_BAR_TERMS: tuple[str, ...] = ("loss", "dino", "ibot", "koleo")


class _LossItems:
    def __init__(self, terms: Sequence[str]) -> None:
        self.terms = tuple(terms)

    def __call__(self, output: Any) -> dict[str, float]:
        losses = output.get("losses", {}) if isinstance(output, dict) else {}
        return {k: v for k, v in losses.items() if k in self.terms}


class SSLProgressBar:
    """Attach a progress bar with the total loss and its terms.

    Args:
        persist: keep the bar on screen after each epoch.
        terms: output scalars shown (default :data:`SSL_BAR_TERMS`; other trainers pass their own names).
        kwargs: other ignite ``ProgressBar`` arguments (``ncols``, ``desc``...).
    """

    def __init__(self, persist: bool = False, terms: Sequence[str] = SSL_BAR_TERMS, **kwargs: Any) -> None:
        self.bar = ProgressBar(persist=persist, **kwargs)
        self.output_transform = _LossItems(terms)

    def attach(self, engine: Engine) -> None:
        """Attach on rank 0 only."""
        if is_main_process():
            self.bar.attach(engine, output_transform=self.output_transform)

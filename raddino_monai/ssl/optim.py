"""The student's AdamW ([DV2] ``train/train.py: build_optimizer``: ``torch.optim.AdamW(params_groups, betas=...)``).

DINOv2 leaves the implementation to torch (on CUDA its default is ``foreach``). :data:`ADAMW_IMPLEMENTATIONS` makes
the choice explicit, because it changes the speed and not the method: ``"fused"`` (one kernel for all parameters, CPU
and CUDA), ``"foreach"`` (multi-tensor ops) and ``"for-loop"`` (one parameter at a time: torch's CPU default).
``docs/performance.md`` measures them side by side; they agree to float rounding (``tests/ssl/test_optim.py``).

Example:
    >>> from raddino_monai.ssl import OptimConfig
    >>> model = torch.nn.Linear(4, 2)
    >>> type(build_adamw(model.parameters(), OptimConfig())).__name__
    'AdamW'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from raddino_monai.ssl.config import ADAMW_IMPLEMENTATIONS, OptimConfig

__all__ = ["ADAMW_IMPLEMENTATIONS", "build_adamw"]

#: implementation name -> ``torch.optim.AdamW`` keyword arguments
_IMPLEMENTATION_KWARGS: dict[str, dict[str, bool]] = {
    "fused": {"fused": True},
    "foreach": {"foreach": True},
    "for-loop": {"foreach": False},
}


def build_adamw(
    params: Iterable[Any], config: OptimConfig | None = None, implementation: str | None = None
) -> torch.optim.AdamW:
    """AdamW over ``params`` (e.g. ``StudentTeacher.param_groups()``) with the recipe's betas.

    The lr and weight decay are set every iteration by the trainer from the schedules
    (:func:`~raddino_monai.ssl.param_groups.apply_schedule_values`), so the constructor's values are placeholders.

    Args:
        params: parameters or parameter groups.
        config: ``SSLConfig.optim`` (betas, ``adamw_impl``); ``None``: :class:`OptimConfig` defaults.
        implementation: overrides ``config.adamw_impl``; one of :data:`ADAMW_IMPLEMENTATIONS`.

    Returns:
        the optimizer.

    Raises:
        ValueError: unknown implementation (valid values listed).
    """
    config = config if config is not None else OptimConfig()
    implementation = config.adamw_impl if implementation is None else implementation
    if implementation not in _IMPLEMENTATION_KWARGS:
        raise ValueError(
            f"Unknown AdamW implementation {implementation!r}; valid values: {list(ADAMW_IMPLEMENTATIONS)}."
        )
    return torch.optim.AdamW(params, betas=config.betas, **_IMPLEMENTATION_KWARGS[implementation])

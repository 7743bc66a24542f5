"""The probe tasks: one registry of each task's training loss and its logits-to-probabilities activation.

* ``"binary"``: one logit, targets ``(B,)`` in {0, 1}; BCE with logits; sigmoid -> ``(B,)`` positive probability.
* ``"multiclass"``: K logits, targets ``(B,)`` class indices; cross entropy; softmax -> ``(B, K)``.
* ``"multilabel"``: C logits, targets ``(B, C)`` in {0, 1}; BCE with logits per label; sigmoid -> ``(B, C)``.

:data:`TASKS` (the names) is derived from :data:`PROBE_TASKS`, so every module that validates a task name, encodes
labels or scores a probe agrees on the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ProbeTask", "PROBE_TASKS", "TASKS"]


@dataclass(frozen=True)
class ProbeTask:
    """How a linear probe of one task trains and predicts.

    Attributes:
        loss: ``(logits (B, K), target) -> scalar``.
        activation: ``logits (B, K) -> probabilities`` (``(B,)`` for binary, ``(B, K)`` otherwise).
    """

    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    activation: Callable[[torch.Tensor], torch.Tensor]


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.reshape(target.shape), target.float())


def _ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target.long())


def _positive_probability(logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits[:, 0])


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=1)


#: task name -> :class:`ProbeTask` (module docstring).
PROBE_TASKS: dict[str, ProbeTask] = {
    "binary": ProbeTask(_bce, _positive_probability),
    "multiclass": ProbeTask(_ce, _softmax),
    "multilabel": ProbeTask(_bce, torch.sigmoid),
}

#: the task names, in registry order
TASKS: tuple[str, ...] = tuple(PROBE_TASKS)

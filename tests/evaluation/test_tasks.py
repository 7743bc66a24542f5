"""The probe-task registry: losses and activations of the three tasks, and the task names derived from it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from raddino_monai.evaluation import metrics
from raddino_monai.evaluation.tasks import PROBE_TASKS, TASKS


def test_losses_and_activations() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]])
    labels = torch.tensor([0, 1])
    multi = torch.tensor([[1, 0, 1], [0, 1, 0]])
    torch.testing.assert_close(PROBE_TASKS["multiclass"].loss(logits, labels), F.cross_entropy(logits, labels))
    torch.testing.assert_close(PROBE_TASKS["multilabel"].loss(logits, multi),
                               F.binary_cross_entropy_with_logits(logits, multi.float()))
    one = logits[:, :1]
    torch.testing.assert_close(PROBE_TASKS["binary"].loss(one, labels),
                               F.binary_cross_entropy_with_logits(one[:, 0], labels.float()))
    assert PROBE_TASKS["binary"].activation(one).shape == (2,)
    torch.testing.assert_close(PROBE_TASKS["multiclass"].activation(logits).sum(1), torch.ones(2))
    probs = PROBE_TASKS["multilabel"].activation(logits)
    assert probs.shape == (2, 3) and torch.all((probs > 0) & (probs < 1))


def test_names_come_from_the_registry() -> None:
    assert TASKS == tuple(PROBE_TASKS) == metrics.TASKS == ("binary", "multiclass", "multilabel")

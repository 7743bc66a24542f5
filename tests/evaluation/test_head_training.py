from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from raddino_monai.evaluation.head_training import cosine_lambda, train_head


def test_cosine_lambda_warmup_then_cosine_to_zero() -> None:
    fn = cosine_lambda(total=10, warmup=2)
    assert [fn(0), fn(1), fn(2)] == [0.5, 1.0, 1.0]
    assert fn(6) == pytest.approx(0.5) and fn(10) == pytest.approx(0.0) and fn(50) == pytest.approx(0.0)
    assert cosine_lambda(total=4)(0) == 1.0


def test_train_head_updates_only_trainable_params_and_follows_the_schedule() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    model[0].requires_grad_(False)
    frozen = model[0].weight.clone()
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    seen: list[tuple[str, float, int]] = []
    history = train_head(
        model, lambda epoch: [(x, y)] if epoch < 3 else [], nn.MSELoss(),
        functools.partial(torch.optim.SGD, lr=0.1), epochs=4, steps_per_epoch=1, log=lambda *a: seen.append(a),
    )
    assert history[0] > history[2] and math.isnan(history[3])
    assert [s for _, _, s in seen] == [0, 1, 2] and {t for t, _, _ in seen} == {"train/loss"}
    torch.testing.assert_close(model[0].weight, frozen, rtol=0, atol=0)

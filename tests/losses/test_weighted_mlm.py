from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.losses.weighted_mlm import WeightedMLMLoss


def _numpy_ce(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    ce = np.zeros(labels.shape)
    for idx in np.ndindex(labels.shape):
        if labels[idx] != -100:
            ce[idx] = -logp[idx + (labels[idx],)]
    return ce


def test_matches_ecamp_weighted_mean_over_all_positions() -> None:
    # [ECAMP] bert_modeling.py lines 213-217: CrossEntropyLoss(reduction="none") * weights, then .mean() over B * T
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(2, 5, 7)), rng.integers(0, 7, size=(2, 5))
    labels[1, 4] = -100
    weights = rng.random((2, 5)) * 2
    ce = _numpy_ce(logits, labels)
    got = WeightedMLMLoss()(torch.tensor(logits), torch.tensor(labels), torch.tensor(weights))
    assert float(got) == pytest.approx((ce * weights).sum() / 10, rel=1e-6)
    got = WeightedMLMLoss("labelled_weight")(torch.tensor(logits), torch.tensor(labels), torch.tensor(weights))
    assert float(got) == pytest.approx((ce * weights).sum() / (weights * (labels != -100)).sum(), rel=1e-6)
    unweighted = WeightedMLMLoss()(torch.tensor(logits), torch.tensor(labels))
    assert float(unweighted) == pytest.approx(ce.sum() / 10, rel=1e-6)


def test_zero_weight_tokens_get_no_gradient() -> None:
    logits = torch.randn(1, 4, 6, requires_grad=True)
    WeightedMLMLoss()(logits, torch.tensor([[1, 2, 3, 4]]), torch.tensor([[1.0, 0.0, 2.0, 0.0]])).backward()
    assert logits.grad[0, [1, 3]].abs().sum() == 0 and logits.grad[0, [0, 2]].abs().sum() > 0


def test_errors() -> None:
    with pytest.raises(ValueError, match="normalize_by must be one of"):
        WeightedMLMLoss("tokens")
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        WeightedMLMLoss()(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="weights must be"):
        WeightedMLMLoss()(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(ValueError, match="no labelled weight"):
        WeightedMLMLoss("labelled_weight")(torch.zeros(1, 2, 4), torch.full((1, 2), -100), torch.ones(1, 2))

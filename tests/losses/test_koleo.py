"""KoLeoLoss against a NumPy loop; fp32 under autocast, duplicates finite, batch of one is 0."""

from __future__ import annotations

import pytest
import torch
from reference import numpy_dino as ref

from raddino_monai.losses import KoLeoLoss


def _x(n: int = 6, d: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("n", [2, 3, 7])
def test_matches_reference(n: int) -> None:
    x = _x(n) * 4
    assert KoLeoLoss()(x).item() == pytest.approx(ref.koleo_loss(x.double().numpy()), rel=1e-5)


def test_low_precision_input_and_autocast_compute_in_float32() -> None:
    x = _x(8, 16).bfloat16()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = KoLeoLoss()(x)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(ref.koleo_loss(x.double().numpy()), rel=1e-4)


def test_duplicates_are_finite_in_loss_and_gradient() -> None:
    x = _x(4, 768)
    x = torch.cat([x, x[:1]]).half().requires_grad_(True)  # row 4 duplicates row 0, fp16 as under FSDP
    loss = KoLeoLoss()(x)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(ref.koleo_loss(x.detach().double().numpy()), rel=1e-3)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad.float()).all()


def test_batch_of_one_is_zero_with_a_graph() -> None:
    x = _x(1).requires_grad_(True)
    loss = KoLeoLoss()(x)
    assert loss.item() == 0.0 and not torch.isnan(loss)
    loss.backward()
    assert x.grad is not None and torch.count_nonzero(x.grad) == 0


def test_spread_points_score_lower_than_clustered() -> None:
    koleo = KoLeoLoss()
    spread = torch.eye(4)
    clustered = torch.ones(4, 4) + 0.01 * torch.eye(4)
    assert koleo(spread) < koleo(clustered)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        KoLeoLoss()(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="eps"):
        KoLeoLoss(eps=0.0)

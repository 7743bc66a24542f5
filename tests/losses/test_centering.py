"""Softmax centering (lag semantics, buffer, async) and Sinkhorn-Knopp against the NumPy oracle, incl. 2-rank gloo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from reference import numpy_dino as ref

import raddino_monai
from raddino_monai.losses.centering import (
    CENTERING_REGISTRY,
    SinkhornKnoppCentering,
    SoftmaxCentering,
    build_centering,
    sinkhorn_knopp,
)

K = 11


def _batches(n: int = 3, rows: int = 6) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(rows, K, generator=g, dtype=torch.float64) * 2 for _ in range(n)]


def test_softmax_centering_uses_previous_batches_only() -> None:
    batches, temps = _batches(), [0.04, 0.05, 0.07]
    expected_probs, expected_center = ref.softmax_centering_sequence([b.numpy() for b in batches], temps, 0.9)
    centering = SoftmaxCentering(K, momentum=0.9)
    for batch, temp, expected in zip(batches, temps, expected_probs):
        probs = centering(batch, temp)
        centering.update(batch)
        assert probs.dtype == torch.float32
        np.testing.assert_allclose(probs.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(centering.center[0].numpy(), expected_center, rtol=1e-5, atol=1e-6)
    # the first batch was centred with a zero centre
    np.testing.assert_allclose(expected_probs[0], ref.softmax(batches[0].numpy() / 0.04), rtol=1e-12)


def test_async_update_is_applied_at_next_call_and_before_saving() -> None:
    batch = _batches(1)[0]
    eager, lazy = SoftmaxCentering(K), SoftmaxCentering(K)
    eager.update(batch)
    lazy.update(batch, async_op=True)
    assert torch.count_nonzero(lazy.center) == 0  # pending, not applied yet
    torch.testing.assert_close(lazy.state_dict()["center"], eager.center)
    other = _batches(2)[1]
    torch.testing.assert_close(lazy(other, 0.07), eager(other, 0.07))


def test_center_is_a_buffer_and_empty_batches_keep_it() -> None:
    centering = SoftmaxCentering(K)
    assert "center" in dict(centering.named_buffers())
    centering.update(_batches(1)[0])
    before = centering.center.clone()
    centering.update(torch.zeros(0, K))
    torch.testing.assert_close(centering.center, before)
    restored = SoftmaxCentering(K)
    restored.load_state_dict(centering.state_dict())
    torch.testing.assert_close(restored.center, before)


def test_update_accepts_any_leading_shape() -> None:
    batch = _batches(1)[0]
    flat, stacked = SoftmaxCentering(K), SoftmaxCentering(K)
    flat.update(batch)
    stacked.update(batch.reshape(2, 3, K))
    torch.testing.assert_close(flat.center, stacked.center)


@pytest.mark.parametrize("n_iterations", [1, 3])
def test_sinkhorn_knopp_matches_reference(n_iterations: int) -> None:
    logits = _batches(1, rows=9)[0] * 0.2  # |t / T| up to ~25, as for a DINO head (unit bottleneck, g ~ 1)
    out = sinkhorn_knopp(logits, teacher_temp=0.05, n_iterations=n_iterations)
    expected = ref.sinkhorn_knopp(logits.numpy(), 0.05, n_iterations)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-7)


def test_sinkhorn_knopp_marginals() -> None:
    logits = _batches(1, rows=8)[0].float() * 0.2
    out = sinkhorn_knopp(logits, teacher_temp=0.1, n_iterations=3)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(8))  # every sample is a distribution
    converged = sinkhorn_knopp(logits, teacher_temp=0.1, n_iterations=200)
    torch.testing.assert_close(converged.sum(dim=0), torch.full((K,), 8 / K), rtol=1e-4, atol=1e-5)


def test_sinkhorn_knopp_is_overflow_safe() -> None:
    logits = torch.full((4, K), 50.0)
    logits[0, 0] = 60.0  # exp(60 / 0.04) overflows float32 and float64 without the max shift
    out = sinkhorn_knopp(logits, teacher_temp=0.04)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.sum(dim=1), torch.ones(4))


def test_sinkhorn_centering_module_reshapes_and_has_no_state() -> None:
    logits = _batches(1, rows=6)[0]
    module = SinkhornKnoppCentering(K)
    out = module(logits.reshape(2, 3, K), 0.05)
    torch.testing.assert_close(out.reshape(6, K), sinkhorn_knopp(logits, 0.05))
    module.update(logits)
    assert len(module.state_dict()) == 0


def test_registry_and_errors() -> None:
    assert set(CENTERING_REGISTRY) == {"centering", "sinkhorn_knopp"}
    assert isinstance(build_centering("centering", K), SoftmaxCentering)
    assert isinstance(build_centering("sinkhorn_knopp", K), SinkhornKnoppCentering)
    with pytest.raises(ValueError, match="valid values are .*centering.*sinkhorn_knopp"):
        build_centering("mean", K)
    with pytest.raises(ValueError, match="teacher_temp"):
        SoftmaxCentering(K)(torch.zeros(2, K), 0.0)
    with pytest.raises(ValueError, match="last dimension K=11"):
        SoftmaxCentering(K).update(torch.zeros(2, K + 1))
    with pytest.raises(ValueError, match="momentum"):
        SoftmaxCentering(K, momentum=1.5)
    with pytest.raises(ValueError, match="n_iterations"):
        sinkhorn_knopp(torch.zeros(2, K), 0.1, n_iterations=0)


def test_two_rank_gloo_matches_single_process(tmp_path: Path) -> None:
    """With a process group, SK and the centre are computed over the rows of all ranks (unequal row counts)."""
    worker = Path(__file__).parents[1] / "reference" / "dist_centering_worker.py"
    repo_root = str(Path(raddino_monai.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo_root, os.environ.get("PYTHONPATH", "")])}
    init_file = tmp_path / "store"
    procs = [
        subprocess.Popen([sys.executable, str(worker), str(rank), "2", str(init_file), str(tmp_path)], env=env)
        for rank in range(2)
    ]
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    sys.path.insert(0, str(worker.parent))
    try:
        from dist_centering_worker import full_logits
    finally:
        sys.path.remove(str(worker.parent))
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    logits = full_logits()
    torch.testing.assert_close(torch.cat([r["sk"] for r in results]), sinkhorn_knopp(logits, 0.05))
    expected_center = 0.1 * logits.mean(dim=0, keepdim=True)
    for r in results:
        torch.testing.assert_close(r["center_sync"], expected_center)
        torch.testing.assert_close(r["center_async"], expected_center)

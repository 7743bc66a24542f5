"""The SSL step benchmark runs the trainer's own step for the tiny setup and splits it into its phases."""

from __future__ import annotations

import math

import pytest

from raddino_monai.benchmarks.ssl_step import PHASES, SETUPS, benchmark_step, synthetic_batches
from raddino_monai.data.masking import MaskingConfig


def test_tiny_step_benchmark_split_and_efficiency() -> None:
    r = benchmark_step("tiny", precision="fp32", batch_size=2, steps=1, warmup=1, gemm_size=128)
    assert set(r["phases"]) == set(PHASES)
    for phase in ("teacher_forward", "student_forward", "backward", "optimizer", "ema"):
        assert r["phases"][phase] > 0, phase
    named = sum(v for k, v in r["phases"].items() if k != "data")
    assert math.isclose(named, r["step_s"] - r["phases"]["data"], rel_tol=1e-6)
    assert r["flops_per_step"] > 0 and r["gemm_flop_s"] > 0 and r["peak_fraction"] > 0
    assert r["images_per_s"] == pytest.approx(2 / r["step_s"])
    assert r["activation_bytes"] > 0 and r["state_bytes"] > 0


def test_sample_loader_variant_and_errors() -> None:
    r = benchmark_step("tiny", precision="bf16", batch_size=2, steps=1, warmup=1, data="sample", num_workers=0,
                       efficiency=False)
    assert r["phases"]["data"] > 0 and math.isnan(r["peak_fraction"])
    with pytest.raises(ValueError, match="valid values"):
        benchmark_step("huge")
    with pytest.raises(ValueError, match="valid values"):
        benchmark_step("tiny", data="imagenet")
    with pytest.raises(ValueError, match="valid values"):
        benchmark_step("tiny", ema="fast")


def test_synthetic_batches_follow_the_collate_contract() -> None:
    spec = SETUPS["tiny"]
    crops = spec.crops()
    batch = synthetic_batches(crops, 3, 16, spec.ssl_config(), n_batches=1)[0]
    n = (crops.global_size // 16) ** 2
    assert tuple(batch["global_crops"].shape) == (2 * 3, 3, crops.global_size, crops.global_size)
    assert tuple(batch["local_crops"].shape) == (crops.n_local * 3, 3, crops.local_size, crops.local_size)
    assert tuple(batch["masks"].shape) == (6, n) and batch["masks_weight"].numel() == int(batch["masks"].sum())
    assert isinstance(spec.ssl_config().masking, MaskingConfig)


def test_profile_ranks_ops_and_counts_gemms() -> None:
    from raddino_monai.benchmarks.profile import profile_step

    result = profile_step("tiny", precision="fp32", batch_size=2, top=5)
    assert len(result["ops"]) == 5 and 0 < result["gemm_share"] < 1
    assert all(name.startswith("aten::") for name, _, _ in result["ops"])

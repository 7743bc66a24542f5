"""Phase clock and the GEMM-peak measurement."""

from __future__ import annotations

import time

import pytest
import torch

from raddino_monai.benchmarks.timing import PhaseClock, gemm_flops_per_s, median, time_call


def test_phase_clock_accumulates_per_step() -> None:
    clock = PhaseClock("cpu")
    sleep = clock.wrap("sleep", time.sleep)
    sleep(0.01)
    sleep(0.01)
    clock.add("other", 0.5)
    clock.end_step()
    with clock.phase("sleep"):
        time.sleep(0.01)
    clock.end_step()
    assert len(clock.steps) == 2 and clock.steps[0]["sleep"] >= 0.02 and clock.steps[0]["other"] == 0.5
    assert set(clock.medians(skip=1)) == {"sleep"}


def test_median_and_time_call() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([]) != median([])
    assert time_call(lambda: None, repeats=2) >= 0
    with pytest.raises(ValueError, match="repeats"):
        time_call(lambda: None, repeats=0)


def test_gemm_peak_is_a_rate() -> None:
    assert gemm_flops_per_s(torch.float32, size=64, repeats=2) > 0
    assert gemm_flops_per_s(torch.bfloat16, shape=(32, 16, 8), repeats=2) > 0

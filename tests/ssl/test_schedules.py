"""Schedules against a NumPy re-derivation of DINOv2's CosineScheduler and build_schedulers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import numpy_dino as ref

from raddino_monai.ssl.config import SSLConfig
from raddino_monai.ssl.schedules import CosineSchedule, FrozenStartSchedule, SSLSchedules, teacher_temp_schedule


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 1.0, "final": 0.1, "total_iters": 50},
        {"base": 0.004, "final": 1e-6, "total_iters": 40, "warmup_iters": 10},
        {"base": 0.5, "final": 2.0, "total_iters": 30, "warmup_iters": 1, "start_warmup": 0.2, "freeze_iters": 4},
        {"base": 0.07, "final": 0.07, "total_iters": 12, "warmup_iters": 12, "start_warmup": 0.04},
    ],
)
def test_cosine_schedule_matches_dinov2(kwargs: dict) -> None:
    schedule = CosineSchedule(**kwargs)
    np.testing.assert_allclose(schedule.array(), ref.dinov2_cosine_schedule(**kwargs), rtol=1e-12, atol=1e-15)
    assert schedule.value(kwargs["total_iters"]) == schedule[10**6] == kwargs["final"]


def test_teacher_temperature_is_linear_then_constant_and_clamped() -> None:
    temp = teacher_temp_schedule(0.04, 0.07, warmup_iters=31)
    assert temp.value(0) == 0.04 and temp.value(30) == pytest.approx(0.07) and temp.value(10**5) == 0.07
    np.testing.assert_allclose(np.diff(temp.array()), 0.001, rtol=1e-9)
    short = teacher_temp_schedule(0.04, 0.07, warmup_iters=37_500, total_iters=100)
    assert short.total_iters == 100 and short.value(99) == pytest.approx(0.07) and short.value(50) < 0.07


def _from_iters(**overrides: object) -> SSLSchedules:
    """``from_iters`` with the DINOv2 recipe's values (``SSLConfig.dinov2``) except ``overrides``."""
    return SSLSchedules.from_iters(**{**SSLConfig.dinov2().build_schedules(1024).state_dict(), **overrides})


def test_dinov2_defaults() -> None:
    sched = SSLConfig.dinov2().build_schedules(global_batch_size=2560)
    peak = 0.004 * math.sqrt(2560 / 1024)  # [DV2] sqrt_wrt_1024
    total = 100 * 1250
    lr = ref.dinov2_cosine_schedule(peak, 1e-6, total, warmup_iters=12_500)
    for it in (0, 1, 12_499, 12_500, 60_000, total - 1):
        values = sched(it)
        assert values.lr == pytest.approx(lr[it], rel=1e-12, abs=1e-18)
        assert values.last_layer_lr == (0.0 if it < 1250 else values.lr)
        assert values.weight_decay == pytest.approx(0.4 + 0.5 * (0.04 - 0.4) * (1 + math.cos(math.pi * it / total)))
        assert values.momentum == pytest.approx(1.0 + 0.5 * (0.992 - 1.0) * (1 + math.cos(math.pi * it / total)))
        expected_temp = 0.04 + (0.07 - 0.04) * it / (37_500 - 1) if it < 37_500 else 0.07
        assert values.teacher_temp == pytest.approx(expected_temp)
    assert sched(total).lr == 1e-6 and sched(total).momentum == 1.0


def test_raddino_recipe_warms_the_teacher_over_30_percent_of_the_run() -> None:
    sched = SSLConfig.raddino().build_schedules(global_batch_size=2560)
    assert sched.teacher_temp.total_iters == 30_000 < 35_000  # past warm-up at the released checkpoint [CARD]
    assert sched.state_dict()["peak_lr"] == pytest.approx(1e-3 * math.sqrt(2560 / 1024))  # [PAPER] base lr 1e-3


def test_last_layer_is_zeroed_not_shifted() -> None:
    sched = _from_iters(total_iters=20, peak_lr=1.0, warmup_iters=5, freeze_last_layer_iters=3)
    expected = sched.lr.array()
    expected[:3] = 0.0
    np.testing.assert_array_equal(sched.last_layer_lr.array(), expected)
    assert isinstance(sched.last_layer_lr, FrozenStartSchedule)


def test_short_runs_clamp_every_warmup() -> None:
    sched = _from_iters(total_iters=8)
    assert sched.lr.warmup_iters == 8 and sched.teacher_temp.total_iters == 8
    assert sched.last_layer_lr.frozen_iters == 8
    assert sched(7).teacher_temp == pytest.approx(0.07) and sched(7).lr == pytest.approx(0.004)


def test_state_dict_round_trip_and_errors() -> None:
    sched = SSLConfig.tiny(total_iters=30).build_schedules(global_batch_size=32)
    again = SSLSchedules.from_state_dict(sched.state_dict())
    assert again == sched
    assert sched.state_dict()["peak_lr"] == pytest.approx(1e-3)  # tiny: lr_scaling_rule "none"
    assert set(sched.describe()) == {"lr", "weight_decay", "momentum", "teacher_temp", "last_layer_lr"}
    with pytest.raises(ValueError, match="exceed total_iters"):
        CosineSchedule(1.0, 0.0, total_iters=5, warmup_iters=6)
    with pytest.raises(ValueError, match=">= 1 iteration"):
        _from_iters(total_iters=0)
    with pytest.raises(ValueError, match="Iteration"):
        CosineSchedule(1.0, 0.0, total_iters=5).value(-1)
    with pytest.raises(TypeError, match="warmup_teacher_temp_iters"):
        SSLSchedules.from_iters(total_iters=10, peak_lr=1.0)  # no recipe defaults outside SSLConfig


def test_every_schedule_field_reaches_the_schedules() -> None:
    cfg = SSLConfig.tiny(total_iters=20).replace(optim={"min_lr": 1e-5}, schedule={"teacher_temp": 0.06})
    sched = cfg.build_schedules(global_batch_size=64)
    assert sched.state_dict()["min_lr"] == 1e-5 and sched.state_dict()["teacher_temp"] == 0.06
    assert sched(19).teacher_temp == pytest.approx(0.06)


def test_optim_schedules_constant_and_cosine() -> None:
    from raddino_monai.ssl.schedules import OptimSchedules, OptimScheduleValues

    const = OptimSchedules.constant(lr=1e-4, weight_decay=1e-6, total_iters=5)
    assert [const(i) for i in (0, 4, 9)] == [OptimScheduleValues(1e-4, 1e-6)] * 3
    cos = OptimSchedules.cosine(peak_lr=1.0, min_lr=0.0, weight_decay=0.1, total_iters=6, warmup_iters=2,
                                weight_decay_end=0.2)
    lrs = [cos(i).lr for i in range(6)]
    assert lrs[:2] == [0.0, 1.0] and lrs[2] == 1.0 and lrs[-1] < 0.2 and all(a >= b for a, b in zip(lrs[1:], lrs[2:]))
    assert cos(0).weight_decay == pytest.approx(0.1) and cos(6).weight_decay == pytest.approx(0.2)
    with pytest.raises(ValueError, match="total_iters"):
        OptimSchedules.constant(lr=1.0, weight_decay=0.0, total_iters=0)

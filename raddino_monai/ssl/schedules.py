"""Per-iteration SSL schedules (learning rate, weight decay, teacher momentum and temperature, last-layer lr).

Pure values of the iteration index, so they need no state in checkpoints beyond their configuration
(:meth:`SSLSchedules.state_dict`). Semantics follow [DV2] ``utils/utils.py: CosineScheduler`` and
``train/train.py: build_schedulers`` exactly:

* ``CosineSchedule``: ``freeze_iters`` zeros, then ``linspace(start_warmup, base, warmup_iters)`` (both ends
  included), then ``final + (base - final) * (1 + cos(pi * k / n)) / 2`` for ``k = 0..n-1`` (``n`` = remaining
  iterations); ``final`` from ``total_iters`` on.
* lr: linear 0 -> the scaled peak lr over the warm-up, cosine to ``min_lr``; last-layer lr: the same with 0 during
  the last-layer freeze; weight decay, teacher momentum: cosine from their start to their end value; teacher
  temperature: linear from its warm-up value over its warm-up, then constant.

The values themselves (and their sources) live in one place, :class:`raddino_monai.ssl.config.SSLConfig`
(``optim`` and ``schedule`` sections), and reach :meth:`SSLSchedules.from_iters` through
:meth:`SSLConfig.build_schedules`; the builders here have no recipe defaults of their own. Lengths are iterations
(DINOv2's epochs of ``OFFICIAL_EPOCH_LENGTH`` 1250 iterations multiplied out). When a warm-up or the last-layer
freeze is longer than the run, it is clamped to ``total_iters`` (DINOv2 would fail its length assertion instead): in
a run shorter than the teacher-temperature warm-up, the temperature reaches ``teacher_temp`` at the last iteration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "CosineSchedule",
    "FrozenStartSchedule",
    "teacher_temp_schedule",
    "ScheduleValues",
    "SSLSchedules",
    "SCALING_RULES",
    "OptimScheduleValues",
    "OptimSchedules",
]


@dataclass(frozen=True)
class CosineSchedule:
    """[DV2] ``CosineScheduler`` as a pure function of the iteration.

    Args:
        base: value after the warm-up (start of the cosine).
        final: value at the end of the cosine and for every ``it >= total_iters``.
        total_iters: schedule length (freeze + warm-up + cosine).
        warmup_iters: linear warm-up length (``linspace(start_warmup, base, warmup_iters)``, ends included).
        start_warmup: first warm-up value.
        freeze_iters: leading iterations with value 0.

    Raises:
        ValueError: negative lengths or ``freeze_iters + warmup_iters > total_iters``.

    Example:
        >>> CosineSchedule(base=1.0, final=0.0, total_iters=10, warmup_iters=2).array().round(3).tolist()[:4]
        [0.0, 1.0, 1.0, 0.962]
    """

    base: float
    final: float
    total_iters: int
    warmup_iters: int = 0
    start_warmup: float = 0.0
    freeze_iters: int = 0

    def __post_init__(self) -> None:
        if min(self.total_iters, self.warmup_iters, self.freeze_iters) < 0:
            raise ValueError(f"Schedule lengths must be >= 0, found {self}.")
        if self.freeze_iters + self.warmup_iters > self.total_iters:
            raise ValueError(
                f"freeze_iters ({self.freeze_iters}) + warmup_iters ({self.warmup_iters}) exceed total_iters "
                f"({self.total_iters})."
            )

    def value(self, it: int) -> float:
        """The schedule value at iteration ``it`` (0-based)."""
        if it < 0:
            raise ValueError(f"Iteration must be >= 0, found {it}.")
        if it >= self.total_iters:
            return float(self.final)
        if it < self.freeze_iters:
            return 0.0
        k = it - self.freeze_iters
        if k < self.warmup_iters:
            if self.warmup_iters == 1:  # numpy.linspace(a, b, 1) == [a]
                return float(self.start_warmup)
            if k == self.warmup_iters - 1:
                return float(self.base)
            return float(self.start_warmup + k * (self.base - self.start_warmup) / (self.warmup_iters - 1))
        k -= self.warmup_iters
        n = self.total_iters - self.warmup_iters - self.freeze_iters
        return float(self.final + 0.5 * (self.base - self.final) * (1.0 + math.cos(math.pi * k / n)))

    def __getitem__(self, it: int) -> float:
        return self.value(it)

    def array(self) -> np.ndarray:
        """All ``total_iters`` values as a float64 array."""
        return np.array([self.value(it) for it in range(self.total_iters)], dtype=np.float64)


@dataclass(frozen=True)
class FrozenStartSchedule:
    """``schedule``, overwritten with 0 for the first ``frozen_iters`` iterations.

    This is [DV2]'s last-layer lr (``last_layer_lr_schedule.schedule[:freeze] = 0``): the lr schedule itself is not
    shifted, unlike :class:`CosineSchedule`'s ``freeze_iters``.

    Args:
        schedule: the underlying schedule.
        frozen_iters: leading iterations forced to 0 (``>= 0``).
    """

    schedule: CosineSchedule
    frozen_iters: int = 0

    def __post_init__(self) -> None:
        if self.frozen_iters < 0:
            raise ValueError(f"frozen_iters must be >= 0, found {self.frozen_iters}.")

    def value(self, it: int) -> float:
        """0 while frozen, else the underlying schedule's value."""
        return 0.0 if 0 <= it < self.frozen_iters else self.schedule.value(it)

    def __getitem__(self, it: int) -> float:
        return self.value(it)

    def array(self) -> np.ndarray:
        """All ``schedule.total_iters`` values as a float64 array."""
        values = self.schedule.array()
        values[: self.frozen_iters] = 0.0
        return values


def teacher_temp_schedule(
    warmup_temp: float, temp: float, warmup_iters: int, total_iters: int | None = None
) -> CosineSchedule:
    """Teacher temperature: linear ``warmup_temp -> temp`` over ``warmup_iters``, then ``temp`` ([DV2]).

    Args:
        warmup_temp: first temperature (``ScheduleConfig.warmup_teacher_temp``).
        temp: final temperature (``ScheduleConfig.teacher_temp``).
        warmup_iters: warm-up length (``ScheduleConfig.warmup_teacher_temp_iters``).
        total_iters: run length; the warm-up is clamped to it (``None``: no clamp).

    Example:
        >>> teacher_temp_schedule(0.04, 0.07, warmup_iters=4).array().round(3).tolist()
        [0.04, 0.05, 0.06, 0.07]
    """
    if total_iters is not None:
        warmup_iters = min(warmup_iters, total_iters)
    return CosineSchedule(temp, temp, total_iters=warmup_iters, warmup_iters=warmup_iters, start_warmup=warmup_temp)


def _sqrt_wrt_1024(base_lr: float, batch_size: int) -> float:
    return base_lr * math.sqrt(batch_size / 1024.0)


def _no_scaling(base_lr: float, batch_size: int) -> float:
    return base_lr


#: lr scaling rules by name: ``(base_lr, global_batch_size) -> lr``. [DV2] ``optim.scaling_rule``.
SCALING_RULES: dict[str, Callable[[float, int], float]] = {"sqrt_wrt_1024": _sqrt_wrt_1024, "none": _no_scaling}

@dataclass(frozen=True)
class ScheduleValues:
    """The schedule values of one iteration."""

    lr: float
    weight_decay: float
    momentum: float
    teacher_temp: float
    last_layer_lr: float


@dataclass(frozen=True)
class SSLSchedules:
    """The five DINOv2 schedules; build with :meth:`SSLConfig.build_schedules` (or :meth:`from_iters`), call with
    ``it``.

    Example:
        >>> sched = SSLConfig.tiny(total_iters=20).build_schedules(global_batch_size=8)  # doctest: +SKIP
        >>> v = sched(0); (v.lr, v.teacher_temp, v.momentum)                            # doctest: +SKIP
        (0.0, 0.04, 0.992)
    """

    lr: CosineSchedule
    weight_decay: CosineSchedule
    momentum: CosineSchedule
    teacher_temp: CosineSchedule
    last_layer_lr: FrozenStartSchedule
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_iters(
        cls,
        *,
        total_iters: int,
        peak_lr: float,
        min_lr: float,
        warmup_iters: int,
        weight_decay: float,
        weight_decay_end: float,
        momentum_teacher: float,
        final_momentum_teacher: float,
        warmup_teacher_temp: float,
        teacher_temp: float,
        warmup_teacher_temp_iters: int,
        freeze_last_layer_iters: int,
    ) -> SSLSchedules:
        """Build the schedules from iteration counts and an already-scaled peak lr (values: ``SSLConfig``).

        Warm-ups and the last-layer freeze longer than ``total_iters`` are clamped to it (module docstring).

        Args:
            total_iters: run length in iterations, ``>= 1``.
            peak_lr: lr at the end of the warm-up (after the batch-size scaling rule).
            min_lr: final lr.
            warmup_iters: linear lr warm-up from 0.
            weight_decay: first weight decay.
            weight_decay_end: final weight decay.
            momentum_teacher: first teacher EMA momentum.
            final_momentum_teacher: final teacher EMA momentum.
            warmup_teacher_temp: first teacher temperature.
            teacher_temp: teacher temperature after the warm-up.
            warmup_teacher_temp_iters: teacher-temperature warm-up.
            freeze_last_layer_iters: iterations with last-layer lr 0.

        Raises:
            ValueError: ``total_iters < 1`` or negative warm-ups.
        """
        config = {k: v for k, v in locals().items() if k != "cls"}
        if total_iters < 1:
            raise ValueError(f"The run must have >= 1 iteration, found total_iters={total_iters}.")
        warmups = {k: config[k] for k in ("warmup_iters", "warmup_teacher_temp_iters", "freeze_last_layer_iters")}
        if min(warmups.values()) < 0:
            raise ValueError(f"Warm-up lengths must be >= 0, found {warmups}.")
        lr = CosineSchedule(peak_lr, min_lr, total_iters, warmup_iters=min(warmup_iters, total_iters))
        return cls(
            lr=lr,
            weight_decay=CosineSchedule(weight_decay, weight_decay_end, total_iters),
            momentum=CosineSchedule(momentum_teacher, final_momentum_teacher, total_iters),
            teacher_temp=teacher_temp_schedule(
                warmup_teacher_temp, teacher_temp, warmup_teacher_temp_iters, total_iters
            ),
            last_layer_lr=FrozenStartSchedule(lr, min(freeze_last_layer_iters, total_iters)),
            config=config,
        )

    def __call__(self, it: int) -> ScheduleValues:
        """All schedule values at iteration ``it``."""
        return ScheduleValues(
            lr=self.lr.value(it),
            weight_decay=self.weight_decay.value(it),
            momentum=self.momentum.value(it),
            teacher_temp=self.teacher_temp.value(it),
            last_layer_lr=self.last_layer_lr.value(it),
        )

    def state_dict(self) -> dict[str, Any]:
        """The resolved :meth:`from_iters` arguments (the schedules are pure functions of them)."""
        return dict(self.config)

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> SSLSchedules:
        """Rebuild from :meth:`state_dict`."""
        return cls.from_iters(**state)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Each schedule's parameters, for logging."""
        names = ("lr", "weight_decay", "momentum", "teacher_temp", "last_layer_lr")
        return {name: asdict(getattr(self, name)) for name in names}


@dataclass(frozen=True)
class OptimScheduleValues:
    """Learning rate and weight decay of one iteration (what :class:`~raddino_monai.engines.PretrainTrainer`
    applies to the optimizer groups; logged under ``schedule/``)."""

    lr: float
    weight_decay: float


@dataclass(frozen=True)
class OptimSchedules:
    """Learning-rate and weight-decay schedules of a pretraining run without a teacher (ConVIRT, ECAMP).

    Pure functions of the iteration, like :class:`SSLSchedules`, so a checkpoint needs no scheduler state and a
    resumed run gets the same values. The values come from the method's config dataclass; this class has no recipe
    defaults.

    Example:
        >>> s = OptimSchedules.cosine(peak_lr=1e-3, min_lr=0.0, weight_decay=0.05, total_iters=10, warmup_iters=2)
        >>> v = s(1); (v.lr, v.weight_decay)
        (0.001, 0.05)
    """

    lr: CosineSchedule
    weight_decay: CosineSchedule

    @classmethod
    def constant(cls, *, lr: float, weight_decay: float, total_iters: int) -> OptimSchedules:
        """The same lr and weight decay at every iteration.

        Raises:
            ValueError: ``total_iters < 1``.
        """
        if total_iters < 1:
            raise ValueError(f"The run must have >= 1 iteration, found total_iters={total_iters}.")
        return cls(CosineSchedule(lr, lr, total_iters), CosineSchedule(weight_decay, weight_decay, total_iters))

    @classmethod
    def cosine(
        cls,
        *,
        peak_lr: float,
        min_lr: float,
        weight_decay: float,
        total_iters: int,
        warmup_iters: int = 0,
        weight_decay_end: float | None = None,
    ) -> OptimSchedules:
        """Linear warm-up from 0 to ``peak_lr`` (clamped to the run), cosine to ``min_lr``; weight decay cosine from
        ``weight_decay`` to ``weight_decay_end`` (``None``: constant).

        Raises:
            ValueError: ``total_iters < 1`` or ``warmup_iters < 0``.
        """
        if total_iters < 1 or warmup_iters < 0:
            raise ValueError(f"need total_iters >= 1 and warmup_iters >= 0, found {total_iters}, {warmup_iters}.")
        end = weight_decay if weight_decay_end is None else weight_decay_end
        return cls(
            CosineSchedule(peak_lr, min_lr, total_iters, warmup_iters=min(warmup_iters, total_iters)),
            CosineSchedule(weight_decay, end, total_iters),
        )

    def __call__(self, it: int) -> OptimScheduleValues:
        """The values at the 0-based iteration ``it``."""
        return OptimScheduleValues(lr=self.lr.value(it), weight_decay=self.weight_decay.value(it))

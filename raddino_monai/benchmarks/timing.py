"""Timing building blocks of the benchmarks: device-synchronised clocks, phase timers, the measured GEMM peak.

Every figure the benchmarks print is a median of repeats, and every efficiency is a ratio of two quantities measured
in the same process and run (e.g. the step's FLOP/s over a large ``torch.matmul``'s at the same dtype), so machine
load hits numerator and denominator alike. Nothing here is a test: numbers depend on the machine.

Example:
    >>> peak = gemm_flops_per_s(torch.float32, size=256, repeats=2)
    >>> peak > 0
    True
"""

from __future__ import annotations

import functools
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["PhaseClock", "device_sync", "gemm_flops_per_s", "median", "time_call"]


def median(values: Sequence[float]) -> float:
    """Median of ``values`` (``nan`` when empty)."""
    return float(statistics.median(values)) if values else float("nan")


def device_sync(device: torch.device | str) -> None:
    """Wait for queued work on ``device`` (CUDA); no-op on CPU, where ops run synchronously."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device | str = "cpu", repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeats`` calls (after ``warmup`` calls), device-synchronised.

    Raises:
        ValueError: ``repeats < 1``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, found {repeats}.")
    for _ in range(warmup):
        fn()
    device_sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        device_sync(device)
        times.append(time.perf_counter() - start)
    return median(times)


def gemm_flops_per_s(
    dtype: torch.dtype, size: int = 2048, device: torch.device | str = "cpu", repeats: int = 5,
    shape: tuple[int, int, int] | None = None,
) -> float:
    """Achieved FLOP/s of ``torch.matmul`` on ``(m, k) @ (k, n)`` in ``dtype``: the GEMM peak the step is compared to.

    Args:
        dtype: operand dtype (bf16 runs on the CPU's AMX/AVX-512 BF16 units where present).
        size: ``m = k = n`` when ``shape`` is None.
        device: where to run.
        repeats: timed calls (median).
        shape: ``(m, k, n)``, e.g. a ViT MLP's ``(tokens, dim, 4 * dim)``.

    Returns:
        ``2 m k n / median seconds``.
    """
    m, k, n = shape if shape is not None else (size, size, size)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(k, n, generator=gen).to(device=device, dtype=dtype)
    return 2.0 * m * k * n / time_call(lambda: torch.matmul(a, b), device, repeats=repeats)


class PhaseClock:
    """Accumulates device-synchronised wall time per named phase and per step.

    Use :meth:`phase` as a context manager or :meth:`wrap` a callable; :meth:`end_step` closes a step (phases timed
    since the previous :meth:`end_step` form one row of :attr:`steps`).

    Args:
        device: device to synchronise before reading the clock.

    Example:
        >>> clock = PhaseClock("cpu")
        >>> with clock.phase("work"):
        ...     _ = sum(range(1000))
        >>> clock.end_step(); list(clock.steps[0])
        ['work']
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.steps: list[dict[str, float]] = []
        self._current: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the enclosed block under ``name`` (adds up when a phase repeats within a step)."""
        device_sync(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            device_sync(self.device)
            self._current[name] += time.perf_counter() - start

    def add(self, name: str, seconds: float) -> None:
        """Add an externally measured duration to the current step."""
        self._current[name] += seconds

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed under ``name`` at every call."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return fn(*args, **kwargs)

        return timed

    def end_step(self) -> None:
        """Close the current step."""
        self.steps.append(dict(self._current))
        self._current = defaultdict(float)

    def medians(self, skip: int = 0) -> dict[str, float]:
        """Median seconds per phase over the steps after the first ``skip``."""
        rows = self.steps[skip:]
        names = list(dict.fromkeys(name for row in rows for name in row))
        return {name: median([row.get(name, 0.0) for row in rows]) for name in names}

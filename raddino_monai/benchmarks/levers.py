"""Speed levers of the SSL step measured side by side: AdamW implementation, teacher EMA, attention kernel, and
the whole step with each lever switched back.

Each comparison alternates its variants inside every repeat (so machine load hits them alike) and reports the
median seconds per variant and the ratio to the first (the reference), e.g. ``{"for-loop": 1.0, "fused": 0.3}``.
The phase-level comparisons time just the phase on the setup's real parameters (gradients filled with noise), which
is what the step's split attributes to it; :func:`compare_steps` then times whole trainer steps.

Example::

    >>> compare_adamw("tiny", repeats=3)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from raddino_monai.benchmarks.ssl_step import SETUPS, _setup, benchmark_step, build_model, synthetic_batches
from raddino_monai.benchmarks.timing import device_sync, median
from raddino_monai.engines.ssl_trainer import AUTOCAST_DTYPES, prepare_ssl_batch
from raddino_monai.ssl import ADAMW_IMPLEMENTATIONS, TeacherEMA, build_adamw, update_ema

__all__ = ["compare", "compare_adamw", "compare_attention", "compare_ema", "compare_steps", "foreach_lerp_ema"]


def compare(variants: Mapping[str, Callable[[], Any]], repeats: int = 5, device: str = "cpu") -> dict[str, Any]:
    """Median seconds of each callable, alternating variants within each repeat (one untimed warm-up call each).

    Returns:
        ``{"seconds": {name: median s}, "ratio": {name: s / s of the first variant}}``.
    """
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        fn()
    for _ in range(repeats):
        for name, fn in variants.items():
            device_sync(device)
            start = time.perf_counter()
            fn()
            device_sync(device)
            times[name].append(time.perf_counter() - start)
    seconds = {name: median(values) for name, values in times.items()}
    first = next(iter(seconds.values()))
    return {"seconds": seconds, "ratio": {name: s / first for name, s in seconds.items()}}


def compare_adamw(setup: str = "tiny", repeats: int = 5, device: str = "cpu") -> dict[str, Any]:
    """One AdamW step over the setup's student parameter groups per implementation (reference: ``"for-loop"``)."""
    model = build_model(_setup(setup).ssl_config(), device)
    for p in model.student.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    implementations = ("for-loop", *[i for i in ADAMW_IMPLEMENTATIONS if i != "for-loop"])
    optimizers = {impl: build_adamw(model.param_groups(), model.config.optim, implementation=impl)
                  for impl in implementations}
    return compare({impl: opt.step for impl, opt in optimizers.items()}, repeats, device)


@torch.no_grad()
def foreach_lerp_ema(ema: TeacherEMA, momentum: float) -> None:
    """``torch._foreach_lerp_(teacher, student, 1 - m)``: the lerp form of the EMA (not bit-identical to [DV2]'s
    ``mul_`` + ``add_``; benchmarked to see whether it would pay)."""
    for _, t_list, s_list in ema._groups:
        torch._foreach_lerp_(t_list, s_list, 1.0 - momentum)


def compare_ema(setup: str = "tiny", repeats: int = 5, device: str = "cpu") -> dict[str, Any]:
    """Teacher EMA per call: one-off matching each step (:func:`update_ema`, the reference), the cached
    :class:`TeacherEMA` (the trainer's), and the lerp form on the cached lists."""
    model = build_model(_setup(setup).ssl_config(), device)
    ema = TeacherEMA(model.teacher, model.student)
    variants = {
        "oneoff_mul_add": lambda: update_ema(model.teacher, model.student, 0.996),
        "cached_mul_add": lambda: ema(0.996),
        "cached_lerp": lambda: foreach_lerp_ema(ema, 0.996),
    }
    return compare(variants, repeats, device)


def compare_attention(
    setup: str = "tiny", precision: str = "bf16", batch_size: int | None = None, repeats: int = 3, device: str = "cpu"
) -> dict[str, Any]:
    """Student forward + backward of the setup's global crops with eager attention (reference) and SDPA."""
    spec = _setup(setup)
    batch_size = batch_size or spec.batch_size
    dtype = AUTOCAST_DTYPES[precision]
    variants = {}
    for impl in ("eager", "sdpa"):
        config = spec.ssl_config(backbone={"overrides": {"attn_implementation": impl}})
        model = build_model(config, device)
        batch = prepare_ssl_batch(synthetic_batches(spec.crops(), batch_size, model.student["backbone"].patch_size,
                                                    config, 1)[0], device)

        def step(model: Any = model, batch: dict[str, torch.Tensor] = batch) -> None:
            with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
                out = model.student["backbone"].forward_features(batch["global_crops"])
            out["patch_tokens"].float().square().mean().backward()
            model.zero_grad(set_to_none=True)

        variants[impl] = step
    return compare(variants, repeats, device)


def compare_steps(
    setup: str = "tiny",
    precision: str = "bf16",
    batch_size: int | None = None,
    repeats: int = 3,
    steps: int = 2,
    device: str = "cpu",
    variants: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Whole trainer steps (:func:`benchmark_step`) per variant, alternating inside each repeat.

    Args:
        variants: name -> :func:`benchmark_step` keyword arguments; the first is the reference. Default: the kept
            levers (``"kept"``: fused AdamW, cached EMA, SDPA) against each switched back.

    Returns:
        ``{"step_s": {name: median s}, "ratio": {name: s / reference s}, "phases": {name: median phase split}}``.
    """
    variants = variants or {
        "kept": {},
        "for-loop AdamW": {"adamw_impl": "for-loop"},
        "one-off EMA": {"ema": "oneoff"},
        "eager attention": {"attn_implementation": "eager"},
    }
    step_s: dict[str, list[float]] = {name: [] for name in variants}
    phases: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, kwargs in variants.items():
            result = benchmark_step(setup, precision, batch_size, steps=steps, warmup=1, device=device,
                                    efficiency=False, **kwargs)
            step_s[name].append(result["step_s"])
            phases[name].append(result["phases"])
    medians = {name: median(values) for name, values in step_s.items()}
    reference = next(iter(medians.values()))
    split = {name: {k: median([row[k] for row in rows]) for k in rows[0]} for name, rows in phases.items()}
    return {"step_s": medians, "ratio": {name: s / reference for name, s in medians.items()}, "phases": split}


def setups() -> Sequence[str]:
    """Names of the benchmark setups."""
    return tuple(SETUPS)

"""Where the SSL step's time goes, op by op: ``torch.profiler`` over trainer steps, self time per aten op.

The phase split (:mod:`.ssl_step`) says which part of the step is slow; this says which kernels: GEMMs
(``aten::mm``/``addmm``/``bmm``), attention, and the rest (layer norms, GELU, softmax over the prototypes, casts,
copies), which run far below the GEMM peak and explain the gap to it.

Example::

    >>> table = profile_step("tiny", precision="bf16", batch_size=4)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from raddino_monai.benchmarks.ssl_step import _setup, build_model, run_steps, synthetic_batches

__all__ = ["GEMM_OPS", "profile_step"]

#: aten ops counted as matrix multiplications
GEMM_OPS: frozenset[str] = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"})


def profile_step(setup: str = "tiny", precision: str = "bf16", batch_size: int | None = None, steps: int = 1,
                 top: int = 12, device: str = "cpu") -> dict[str, Any]:
    """Profile ``steps`` trainer steps (after one warm-up) and rank aten ops by self time.

    Returns:
        ``{"total_s", "gemm_share", "ops": [(name, self seconds, share), ...]}`` (top ``top`` ops).
    """
    spec = _setup(setup)
    batch_size = batch_size or spec.batch_size
    config = spec.ssl_config()
    model = build_model(config, device)
    data = synthetic_batches(spec.crops(), batch_size, model.student["backbone"].patch_size, config, 1)
    run_steps(model, data, 1, precision, config, batch_size, device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.device(device).type == "cuda" else [])
    with profile(activities=activities) as prof:
        run_steps(model, data, steps, precision, config, batch_size, device)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    self_s = {e.key: e.self_cpu_time_total / 1e6 for e in events}
    total = sum(self_s.values())
    ranked = sorted(self_s.items(), key=lambda kv: -kv[1])[:top]
    return {
        "total_s": total,
        "gemm_share": sum(v for k, v in self_s.items() if k in GEMM_OPS) / total if total else float("nan"),
        "ops": [(name, seconds, seconds / total) for name, seconds in ranked],
    }

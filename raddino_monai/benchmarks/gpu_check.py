"""Prepared GPU check (``scripts/gpu_check.sh``): CUDA bf16 and fp16 (+ GradScaler) SSL steps, a single-GPU NCCL
process group with a DDP step, and throughput + peak memory of ViT-B/14 at 518 px at the paper's per-GPU batch of 40
(or the largest that fits), as rows of one table.

Each row is ``{"check", "status", "detail"}``; status is ``"ok"`` or ``"FAIL"`` (with the error), so one failing
part does not hide the others. Needs CUDA: :func:`require_cuda` raises with a clear message otherwise.

Example::

    >>> rows = run_gpu_check(batch_size=40)   # doctest: +SKIP
    >>> print(format_table(rows))             # doctest: +SKIP
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from raddino_monai.benchmarks.ssl_step import SETUPS, build_model, run_steps, synthetic_batches
from raddino_monai.benchmarks.timing import median

__all__ = ["PAPER_BATCH_PER_GPU", "failed", "format_table", "require_cuda", "run_gpu_check"]

#: per-GPU batch of the RAD-DINO recipe [PAPER] (40 images per GPU, 16 GPUs)
PAPER_BATCH_PER_GPU = 40


def require_cuda() -> torch.device:
    """The first CUDA device.

    Raises:
        RuntimeError: no CUDA device (message names the torch build and what to do).
    """
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"gpu_check needs a CUDA GPU: torch {torch.__version__} reports torch.cuda.is_available() = False "
            "(a CPU build or no visible device). Run it on a GPU machine with a CUDA build of torch "
            "(PYTHON=/path/to/cuda/python bash scripts/gpu_check.sh)."
        )
    return torch.device("cuda", 0)


def _row(check: str, fn: Callable[[], str]) -> dict[str, str]:
    start = time.perf_counter()
    try:
        detail = fn()
        status = "ok"
    except Exception as err:  # reported in the table, the other checks still run
        detail, status = f"{type(err).__name__}: {err}"[:300], "FAIL"
    return {"check": check, "status": status, "detail": f"{detail} [{time.perf_counter() - start:.0f} s]"}


def _steps(precision: str, batch_size: int, steps: int, device: torch.device, setup: str = "vitb14_518") -> str:
    spec = SETUPS[setup]
    config = spec.ssl_config()
    model = build_model(config, device)
    data = synthetic_batches(spec.crops(), batch_size, model.student["backbone"].patch_size, config, 1)
    torch.cuda.reset_peak_memory_stats(device)
    timer = run_steps(model, data, 1 + steps, precision, config, batch_size, device)
    step_s = median([row["step"] for row in timer.clock.steps[1:]])
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    params = [p for p in model.student.parameters() if p.requires_grad]
    if not all(torch.isfinite(p).all() for p in params):
        raise FloatingPointError(f"{precision}: non-finite student parameters after {1 + steps} steps")
    del model, data, timer
    torch.cuda.empty_cache()
    return f"{setup} batch {batch_size}: {batch_size / step_s:.1f} img/s, {step_s:.2f} s/step, peak {peak:.1f} GiB"


def _largest_batch_steps(precision: str, batch_size: int, steps: int, device: torch.device) -> str:
    """:func:`_steps` at ``batch_size``, halving on CUDA out-of-memory."""
    while True:
        try:
            return _steps(precision, batch_size, steps, device)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if batch_size == 1:
                raise
            batch_size = max(batch_size // 2, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nccl(device: torch.device) -> str:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1,
                            device_id=device)
    try:
        value = torch.ones(4, device=device)
        dist.all_reduce(value)
        spec = SETUPS["tiny"]
        config = spec.ssl_config()
        model = build_model(config, device)
        ddp = DistributedDataParallel(model, device_ids=[device.index])
        data = synthetic_batches(spec.crops(), 4, model.student["backbone"].patch_size, config, 1)
        run_steps(ddp, data, 2, "bf16", config, 4, device)  # type: ignore[arg-type]
        return f"backend {dist.get_backend()}, all_reduce {value.tolist()}, DDP tiny bf16 2 steps"
    finally:
        dist.destroy_process_group()


def run_gpu_check(batch_size: int = PAPER_BATCH_PER_GPU, steps: int = 3,
                  extraction: Callable[[], str] | None = None) -> list[dict[str, str]]:
    """Run every check (module docstring) on the first CUDA device.

    Args:
        batch_size: per-GPU batch of the ViT-B/14 518 rows (halved until it fits).
        steps: timed steps per row (after one warm-up).
        extraction: optional extra check returning a detail string (the extraction benchmark).

    Returns:
        the table rows.

    Raises:
        RuntimeError: no CUDA device.
    """
    device = require_cuda()
    rows = [{"check": "device", "status": "ok",
             "detail": f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
                       f"{torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB"}]
    rows.append(_row("tiny bf16 step", lambda: _steps("bf16", 8, 2, device, "tiny")))
    rows.append(_row("tiny fp16 + GradScaler step", lambda: _steps("fp16", 8, 2, device, "tiny")))
    rows.append(_row("NCCL process group (1 GPU) + DDP", lambda: _nccl(device)))
    for precision in ("bf16", "fp16"):
        rows.append(_row(f"ViT-B/14 518 {precision}", lambda p=precision: _largest_batch_steps(p, batch_size, steps,
                                                                                                device)))
    if extraction is not None:
        rows.append(_row("extraction benchmark", extraction))
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a fixed-width text table (``check | status | detail``)."""
    width = max((len(r["check"]) for r in rows), default=5)
    lines = [f"{'check':<{width}}  status  detail", f"{'-' * width}  ------  {'-' * 40}"]
    lines += [f"{r['check']:<{width}}  {r['status']:<6}  {r['detail']}" for r in rows]
    return "\n".join(lines)


def failed(rows: Sequence[dict[str, Any]]) -> int:
    """Number of failed rows."""
    return sum(r["status"] != "ok" for r in rows)


"""python tools/gpu_check.py [--batch_size 40] [--steps 3] [--extraction True]

The prepared GPU check (:mod:`raddino_monai.benchmarks.gpu_check`), normally run through ``scripts/gpu_check.sh``:
CUDA bf16 and fp16 (+ GradScaler) SSL steps, a single-GPU NCCL process group with a DDP step, ViT-B/14 at 518 px
throughput and peak memory at the paper's per-GPU batch 40 (or the largest that fits), and the extraction
benchmark (``tools/benchmark_embeddings.py``, its summary lines). Prints one table; exits 1 if a row failed and
2 without CUDA.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fire

from raddino_monai.benchmarks.gpu_check import PAPER_BATCH_PER_GPU, failed, format_table, run_gpu_check


def _extraction(timeout_s: int) -> str:
    tool = Path(__file__).with_name("benchmark_embeddings.py")
    done = subprocess.run([sys.executable, str(tool), "--n_images", "8", "--repeats", "2"], capture_output=True,
                          text=True, timeout=timeout_s, check=True)
    return " | ".join(line.strip() for line in done.stdout.splitlines() if "img/s" in line or "diff" in line)


def main(batch_size: int = PAPER_BATCH_PER_GPU, steps: int = 3, extraction: bool = True,
         extraction_timeout_s: int = 150) -> None:
    """Run the check and print the table (exit status: 0 all ok, 1 a row failed, 2 no CUDA)."""
    try:
        rows = run_gpu_check(batch_size, steps, (lambda: _extraction(extraction_timeout_s)) if extraction else None)
    except RuntimeError as err:
        print(f"gpu_check: {err}", file=sys.stderr)
        sys.exit(2)
    print(format_table(rows))
    sys.exit(1 if failed(rows) else 0)


if __name__ == "__main__":
    fire.Fire(main)

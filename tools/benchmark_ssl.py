"""python tools/benchmark_ssl.py {step,levers,loader,profile,cost} [options]

Benchmarks of SSL pretraining (:mod:`raddino_monai.benchmarks`), printed as medians and ratios measured side by side
in one run (``docs/performance.md`` records them with the commands and the machine):

* ``step --setup tiny --precisions [fp32,bf16]``: images/s, the time split (data wait, teacher forward, student
  forward, losses, backward, clipping, optimizer, EMA, other), FLOPs per step (``FlopCounterMode``) and the achieved
  FLOP/s as a fraction of a large ``torch.matmul`` at the same dtype measured in the same run. Setups: ``tiny``,
  ``vits14_224``, ``vitb14_518``. ``--loader`` trains on the real multi-crop loader (sample images) instead of
  random views, so the data wait is the loader's.
* ``levers --setup tiny``: AdamW implementations, teacher EMA forms, eager vs SDPA attention, then whole steps with
  each kept lever switched back.
* ``loader --recipe raddino --workers [0,1,2]``: loader items/s per worker count and cache mode, the per-item stage
  costs, the step's consumption (tiny setup, this CPU) and the GPU recipe's on paper.
* ``profile --setup vits14_224 --batch_size 4``: self time per aten op (GEMMs vs the rest).
* ``cost --setup vitb14_518 --out docs/images/ssl_cost.png``: step time and memory against image size and batch.

Not a test: numbers depend on the machine and its load. ``--threads`` sets ``torch.set_num_threads``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import fire
import torch

from raddino_monai.benchmarks import cost as cost_lib
from raddino_monai.benchmarks import levers as levers_lib
from raddino_monai.benchmarks import loader as loader_lib
from raddino_monai.benchmarks import profile as profile_lib
from raddino_monai.benchmarks.ssl_step import PHASES, SETUPS, benchmark_step, step_flops, synthetic_batches
from raddino_monai.benchmarks.ssl_step import build_model as _build_model


def _threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(int(threads))


def _print_step(r: dict[str, Any]) -> None:
    total = sum(r["phases"].values())
    split = ", ".join(f"{k} {100 * r['phases'][k] / total:.0f}%" for k in PHASES if r["phases"][k] > 0)
    print(f"{r['setup']} {r['precision']} batch {r['batch_size']}: {r['images_per_s']:.2f} img/s, "
          f"{r['step_s']:.3f} s/step; FLOPs/step {r['flops_per_step'] / 1e9:.1f} G; achieved "
          f"{r['achieved_flop_s'] / 1e9:.1f} GFLOP/s = {100 * r['peak_fraction']:.1f}% of the {r['precision']} GEMM "
          f"peak {r['gemm_flop_s'] / 1e9:.1f} GFLOP/s; activations {r['activation_bytes'] / 2**20:.0f} MiB, "
          f"state {r['state_bytes'] / 2**20:.0f} MiB")
    print(f"  split: {split}")


def step(setup: str = "tiny", precisions: Sequence[str] = ("fp32", "bf16"), batch_size: int | None = None,
         steps: int = 3, warmup: int = 1, device: str = "cpu", threads: int | None = None, loader: bool = False,
         num_workers: int = 1, json_out: str | None = None, attn_implementation: str = "sdpa") -> list[dict[str, Any]]:
    """Step benchmark of one setup per precision (module docstring); ``attn_implementation`` ``"eager"`` times the
    backbone with eager attention (the CPU bf16 lever of docs/performance.md section 2)."""
    _threads(threads)
    results = []
    for precision in precisions:
        r = benchmark_step(setup, precision, batch_size, steps=steps, warmup=warmup, device=device,
                           data="sample" if loader else "synthetic", num_workers=num_workers,
                           attn_implementation=attn_implementation)
        _print_step(r)
        results.append(r)
    if json_out:
        with open(json_out, "w") as f:
            json.dump(results, f, indent=1)
    return results


def levers(setup: str = "tiny", precision: str = "bf16", repeats: int = 5, step_repeats: int = 3,
           batch_size: int | None = None, device: str = "cpu", threads: int | None = None,
           whole_steps: bool = True) -> dict[str, Any]:
    """Side-by-side lever comparisons (module docstring); prints median seconds and ratios to the reference."""
    _threads(threads)
    out: dict[str, Any] = {
        "adamw": levers_lib.compare_adamw(setup, repeats, device),
        "ema": levers_lib.compare_ema(setup, repeats, device),
        "attention": levers_lib.compare_attention(setup, precision, batch_size, max(repeats // 2, 1), device),
    }
    if whole_steps:
        out["steps"] = levers_lib.compare_steps(setup, precision, batch_size, step_repeats, device=device)
    for name, result in out.items():
        key = "step_s" if name == "steps" else "seconds"
        cells = ", ".join(f"{k} {v:.4f} s ({result['ratio'][k]:.2f}x)" for k, v in result[key].items())
        print(f"{setup} {precision} {name}: {cells}")
    return out


def loader(recipe: str = "raddino", workers: Sequence[int] = (0, 1, 2), caches: Sequence[str] = ("none", "memory"),
           n_images: int = 16, image_size: int = 1024, batch_size: int = 4, threads: int | None = None,
           consumer_setup: str = "tiny", gpu_setup: str = "vitb14_518", mfu: float = 0.4) -> dict[str, Any]:
    """Loader items/s per worker count at ``recipe``, against the tiny step (this CPU) and the GPU recipe (paper)."""
    _threads(threads)
    result = loader_lib.benchmark_loader(recipe, workers, caches, n_images, image_size, batch_size)
    stages = result["stages"]
    print(f"{recipe} loader, per item: " + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in stages.items()))
    for key, rate in result["items_per_s"].items():
        print(f"  cache/workers {key}: {rate:.1f} items/s (first batch {result['first_batch_s'][key]:.1f} s)")
    tiny = loader_lib.benchmark_loader("tiny", workers, ("memory",), n_images, image_size, batch_size)
    consumer = benchmark_step(consumer_setup, "bf16", steps=3, warmup=1, efficiency=False)
    best_tiny = max(tiny["items_per_s"].values())
    print("tiny recipe loader: " + ", ".join(f"{k} {v:.1f} items/s" for k, v in tiny["items_per_s"].items())
          + f"; tiny step consumes {consumer['images_per_s']:.1f} img/s -> best loader "
          f"{best_tiny / consumer['images_per_s']:.1f}x consumption")
    spec = SETUPS[gpu_setup]
    config = spec.ssl_config()
    model = _build_model(config)
    batch = synthetic_batches(spec.crops(), 1, model.student["backbone"].patch_size, config, 1)[0]
    flops = step_flops(model, batch, "bf16", "cpu")
    per_worker = 1.0 / sum(stages.values())
    cached_worker = 1.0 / (stages["multicrop"] + stages["collate"])
    paper = loader_lib.gpu_consumption(flops, mfu, per_worker_items_s=per_worker)
    paper_cached = loader_lib.gpu_consumption(flops, mfu, per_worker_items_s=cached_worker)
    print(f"GPU recipe on paper ({gpu_setup}, {flops / 1e12:.2f} TFLOP/image, A100 bf16 at {mfu:.0%} MFU): "
          f"{paper['images_per_s_per_gpu']:.0f} img/s per GPU; one worker here makes {per_worker:.1f} items/s "
          f"uncached ({cached_worker:.1f} with the resize cached) -> {paper['workers_for_2x']:.1f} "
          f"({paper_cached['workers_for_2x']:.1f}) workers per GPU for 2x consumption")
    return {**result, "tiny": tiny, "consumer": consumer, "gpu_flops_per_image": flops, "paper": paper,
            "paper_cached": paper_cached}


def profile(setup: str = "tiny", precision: str = "bf16", batch_size: int | None = None, steps: int = 1,
            top: int = 12, threads: int | None = None) -> dict[str, Any]:
    """Self time per aten op over trainer steps: where the step's time goes beyond the GEMMs."""
    _threads(threads)
    result = profile_lib.profile_step(setup, precision, batch_size, steps, top)
    print(f"{setup} {precision}: aten self time {result['total_s']:.2f} s, GEMMs (mm/addmm/bmm) "
          f"{100 * result['gemm_share']:.0f}%")
    for name, seconds, share in result["ops"]:
        print(f"  {name:<55} {seconds:8.3f} s {100 * share:5.1f}%")
    return result


def cost(setup: str = "vitb14_518", sizes: Sequence[int] = (112, 224, 336, 448, 518), batches: Sequence[int] = (1, 2),
         precision: str = "bf16", out: str = "docs/images/ssl_cost.png", threads: int | None = None,
         steps: int = 3) -> str:
    """Step time (median of ``steps`` per cell) and memory against image size and batch, written as a PNG."""
    _threads(threads)
    rows = cost_lib.cost_grid(setup, sizes, batches, precision, steps=steps)
    path = cost_lib.plot_cost(rows, out, title=f"SSL step cost, {setup} ({SETUPS[setup].arch}), {precision}, "
                                               f"{torch.get_num_threads()} CPU threads")
    print(f"wrote {path}")
    return str(path)


if __name__ == "__main__":
    commands = {"step": step, "levers": levers, "loader": loader, "profile": profile, "cost": cost}
    fire.Fire(commands, serialize=lambda result: None)

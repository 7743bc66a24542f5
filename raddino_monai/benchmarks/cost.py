"""Cost growth of the SSL step against image size and batch: step time and memory, as a PNG.

For each global crop size ``S`` (local crops keep the recipe's ratio, rounded to the patch size) and batch ``B``,
``steps`` timed :class:`~raddino_monai.engines.SSLTrainer` iterations (one warm-up step before the first point)
(:func:`~raddino_monai.benchmarks.ssl_step.run_steps`); memory is the bytes autograd saves for backward during the
step (activations, :func:`~raddino_monai.benchmarks.flops.saved_tensor_bytes`) plus the training state (student
parameters, gradients, AdamW moments, teacher). Time grows with tokens (``S^2``) and attention (``S^4``); memory's
activation part grows the same way, its state part is constant.

Example::

    >>> rows = cost_grid("tiny", sizes=(64, 112), batches=(1, 2))  # doctest: +SKIP
    >>> plot_cost(rows, "docs/images/ssl_cost.png")                  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from raddino_monai.benchmarks.flops import saved_tensor_bytes, training_state_bytes
from raddino_monai.benchmarks.ssl_step import _setup, build_model, run_steps, synthetic_batches
from raddino_monai.benchmarks.timing import median
from raddino_monai.visualize.figure import agg_pyplot, save_figure

__all__ = ["cost_grid", "plot_cost"]


def _local_size(size: int, crops: Any, patch: int) -> int:
    return max(patch, round(size * crops.local_size / crops.global_size / patch) * patch)


def cost_grid(
    setup: str = "vitb14_518",
    sizes: Sequence[int] = (112, 224, 336, 448, 518),
    batches: Sequence[int] = (1, 2, 4),
    precision: str = "bf16",
    steps: int = 1,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Step time (median of ``steps`` steps after one recorded step) and memory per (global crop size, batch) for
    one setup's model and crop recipe.

    Returns:
        rows ``{"size", "local_size", "batch", "step_s", "activation_bytes", "state_bytes"}``.

    Raises:
        ValueError: a size that is not a multiple of the patch size.
    """
    spec = _setup(setup)
    config = spec.ssl_config()
    model = build_model(config, device)
    patch = model.student["backbone"].patch_size
    state = training_state_bytes(model.student, model.teacher)
    rows = []
    warm = False
    for size in sizes:
        if size % patch:
            raise ValueError(f"image size {size} is not a multiple of the patch size {patch}.")
        for batch in batches:
            crops = spec.crops(global_size=size, local_size=_local_size(size, spec.crops(), patch))
            data = synthetic_batches(crops, batch, patch, config, n_batches=1)
            if not warm:  # one untimed step for the one-off costs
                run_steps(model, data, 1, precision, config, batch, device)
                warm = True
            record: dict[str, int] = {}
            # one recorded step: what autograd keeps for backward is the step's activation memory (recording over
            # several steps of the same batch would count the shared input crops once and divide them)
            with saved_tensor_bytes(record, exclude=model.parameters()):
                run_steps(model, data, 1, precision, config, batch, device)
            act = record["bytes"]
            timer = run_steps(model, data, steps, precision, config, batch, device)
            rows.append({
                "size": size, "local_size": crops.local_size, "batch": batch,
                "step_s": median([row["step"] for row in timer.clock.steps]),
                "activation_bytes": act, "state_bytes": state,
            })
            print(f"size {size} (locals {crops.local_size}) batch {batch}: {rows[-1]['step_s']:.2f} s/step, "
                  f"activations {act / 2**30:.2f} GiB + state {state / 2**30:.2f} GiB", flush=True)
    return rows


def plot_cost(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "SSL step cost") -> Path:
    """Two panels against global crop size, one line per batch: step time (s) and memory (GiB, activations + state).

    Returns:
        the written PNG path.
    """
    plt = agg_pyplot()
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for batch in sorted({r["batch"] for r in rows}):
        sub = sorted((r for r in rows if r["batch"] == batch), key=lambda r: r["size"])
        sizes = [r["size"] for r in sub]
        ax_t.plot(sizes, [r["step_s"] for r in sub], marker="o", label=f"batch {batch}")
        ax_m.plot(sizes, [(r["activation_bytes"] + r["state_bytes"]) / 2**30 for r in sub], marker="o",
                  label=f"batch {batch}")
    state = rows[0]["state_bytes"] / 2**30 if rows else 0.0
    ax_m.axhline(state, color="grey", linestyle="--", label="training state (params, grads, AdamW, teacher)")
    ax_t.set(xlabel="global crop size (px)", ylabel="step time (s)", title="time per step", yscale="log")
    ax_m.set(xlabel="global crop size (px)", ylabel="GiB", title="activations + training state")
    for ax in (ax_t, ax_m):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)

"""PNG figures of the experiments: probe bars and the probe-vs-iteration curve of
:func:`raddino_monai.experiments.ssl_evidence.ssl_evidence`, and the method bars of
:func:`raddino_monai.experiments.compare_pretraining.compare_pretraining`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from raddino_monai.visualize.figure import agg_pyplot

__all__ = ["plot_probes", "plot_probe_curve", "plot_comparison"]


def plot_probes(probes: Mapping[str, Mapping[str, Mapping[str, Any]]], path: str | Path) -> None:
    """Bars of the probe accuracy per attribute, pretrained vs random init, the majority-class share dotted.

    Args:
        probes: ``probes[attribute][encoder]`` with ``mean`` and ``chance``
            (:func:`~raddino_monai.experiments.ssl_evidence.probe_encoders`), encoders ``pretrained`` and ``random_init``.
        path: PNG file.
    """
    plt = agg_pyplot()
    tasks = list(probes)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, offset in (("pretrained", -0.2), ("random_init", 0.2)):
        values = [probes[t][name]["mean"] for t in tasks]
        ax.bar(np.arange(len(tasks)) + offset, values, width=0.4, label=name.replace("_", " "))
    for i, t in enumerate(tasks):
        ax.hlines(probes[t]["pretrained"]["chance"], i - 0.4, i + 0.4, colors="k", linestyles=":")
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylabel("accuracy (frozen CLS probe, 5-fold)")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_probe_curve(
    curve: Sequence[Mapping[str, Any]], probes: Mapping[str, Mapping[str, Mapping[str, Any]]], path: str | Path
) -> None:
    """Probe AUROC of the teacher snapshots against the iteration, one line per attribute; the random-init AUROC of
    each attribute is a dashed line of the same colour.

    Args:
        curve: ``[{"iteration": i, "probes": {attribute: {"mean", "auroc_mean"}}}, ...]`` in iteration order.
        probes: the final probes (for the random-init reference), as in :func:`plot_probes`.
        path: PNG file.
    """
    plt = agg_pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    iterations = [point["iteration"] for point in curve]
    for k, name in enumerate(probes):
        colour = f"C{k}"
        ax.plot(iterations, [point["probes"][name]["auroc_mean"] for point in curve], "o-", color=colour,
                label=f"{name}: SSL teacher")
        ax.axhline(probes[name]["random_init"]["auroc_mean"], color=colour, linestyle="--",
                   label=f"{name}: random init")
    ax.set_xlabel("pretraining iteration")
    ax.set_ylabel("probe AUROC (5-fold)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_comparison(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], path: str | Path,
                    columns: int = 4) -> None:
    """One panel per evaluation metric (its own y scale: probabilities, percentages and token losses differ), one
    bar per method (mean over seeds, std as error bar) with each seed's value as a dot, so the paired seeds can be
    read off; a method without a value for a metric (e.g. text retrieval for an image-only method) has no bar.

    Args:
        rows: :func:`~raddino_monai.experiments.compare_summary.summarise_methods` output.
        methods: methods in bar order (one colour each, shared legend).
        path: PNG file.
        columns: panels per row of the grid.
    """
    plt = agg_pyplot()
    ncols = max(1, min(columns, len(rows)))
    nrows = max(1, -(-len(rows) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.5 * nrows + 0.6), squeeze=False)
    x = np.arange(len(methods))
    for ax, row in zip(axes.flat, rows):
        for k, method in enumerate(methods):
            mean, std = row[method]["mean"], row[method]["std"]
            if np.isnan(mean):
                continue
            ax.bar(x[k], mean, width=0.7, yerr=0.0 if np.isnan(std) else std, capsize=2, color=f"C{k}")
            seeds = [v for v in row[method]["per_seed"] if not np.isnan(v)]
            ax.plot([x[k]] * len(seeds), seeds, "k.", markersize=4)
        ax.set_title(row["row"].replace(" / ", "\n", 1), fontsize=7)
        ax.set_xticks(x, methods, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{k}") for k in range(len(methods))]
    fig.legend(handles, methods, loc="upper center", ncols=len(methods), fontsize=8)
    fig.supylabel("score on held-out patients (mean ± std over seeds; dots: seeds)", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.5 * nrows + 0.6)))
    fig.savefig(path, dpi=110)
    plt.close(fig)

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


def plot_comparison(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], path: str | Path) -> None:
    """Grouped bars: one group per evaluation metric, one bar per method (mean over seeds, std as error bar), each
    seed's value as a dot on its bar, so the paired seeds can be read off.

    Args:
        rows: :func:`~raddino_monai.experiments.compare_summary.summarise_methods` output.
        methods: methods in bar order.
        path: PNG file.
    """
    plt = agg_pyplot()
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(rows) * max(1, len(methods)) / 2 + 2), 3.8))
    x = np.arange(len(rows))
    for k, method in enumerate(methods):
        offset = (k - (len(methods) - 1) / 2) * width
        means = [row[method]["mean"] for row in rows]
        stds = [0.0 if np.isnan(row[method]["std"]) else row[method]["std"] for row in rows]
        ax.bar(x + offset, means, width=width, yerr=stds, capsize=2, label=method, color=f"C{k}")
        for i, row in enumerate(rows):
            seeds = [v for v in row[method]["per_seed"] if not np.isnan(v)]
            ax.plot([x[i] + offset] * len(seeds), seeds, "k.", markersize=3)
    ax.set_xticks(x, [row["row"].replace(" / ", "\n") for row in rows], fontsize=6)
    ax.set_ylabel("score on held-out patients")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper right", ncols=len(methods))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

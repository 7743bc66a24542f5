"""Summaries of :func:`raddino_monai.experiments.ssl_evidence.ssl_evidence` results: a few lines per run, and the
aggregate of runs with different seeds with a paired comparison of the pretrained teacher against random init.

    python tools/ssl_evidence.py --datalist DATALIST.json --output_dir runs/ssl_evidence --seeds "[0,1,2]"

Each seed sets the pretraining, the random-init baseline and the probe folds, so the two encoders of one seed are
probed on the same folds: the per-seed difference (pretrained − random init) is the paired quantity, and the
one-sided exact sign test over seeds asks whether the pretrained teacher is ahead more often than a coin would be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import median
from typing import Any

from raddino_monai.evaluation.metrics import mean_std

__all__ = ["sign_test_p", "format_evidence", "combine_seeds", "format_combined"]

#: metric name in ``combine_seeds(...)["paired"]`` -> (prefix of its ``mean`` / ``std`` keys in a probe result, label)
METRICS: dict[str, tuple[str, str]] = {"accuracy": ("", "accuracy"), "auroc": ("auroc_", "AUROC")}


def sign_test_p(wins: int, n: int) -> float:
    """One-sided exact sign test: the chance that a fair coin comes up heads at least ``wins`` times in ``n`` tosses.

    Args:
        wins: seeds where the pretrained teacher is strictly ahead (a tie counts against it, which is conservative).
        n: number of seeds.

    Returns:
        the p-value, ``sum_{k >= wins} C(n, k) / 2**n``.

    Raises:
        ValueError: ``wins`` outside ``[0, n]``.

    Example:
        >>> sign_test_p(5, 5)
        0.03125
    """
    if not 0 <= wins <= n:
        raise ValueError(f"sign_test_p needs 0 <= wins <= n, got wins={wins}, n={n}.")
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


def format_evidence(results: Mapping[str, Any]) -> str:
    """Human-readable summary of :func:`ssl_evidence` results: pretraining throughput, then one line per probe.

    Args:
        results: the dict returned by :func:`~raddino_monai.experiments.ssl_evidence.ssl_evidence`.

    Returns:
        the summary, one line per item, without a trailing newline.
    """
    stats = results["pretraining"]
    mode = results.get("pretraining_mode", "all_images")
    lines = [
        f"mode {mode}: pretrained on {results.get('n_pretrain_images', results['n_images'])} images, probed "
        f"{results.get('n_probe_images', results['n_images'])}"
        + (" (the same images)" if mode == "all_images" else " (held-out patients, never seen in pretraining)"),
        f"pretraining: {int(stats['iterations'])} iterations, {stats['images_per_s']:.1f} images/s, "
        f"{100 * stats['data_wait_share']:.0f}% of each step waiting for data, final loss {stats['final_loss']:.3f}"
    ]
    for name, rows in results["probes"].items():
        scores = ", ".join(
            f"{enc} {r['mean']:.3f} ± {r['std']:.3f} (AUROC {r['auroc_mean']:.3f})" for enc, r in rows.items()
        )
        ref = next(iter(rows.values()))
        lines.append(f"{name} probe (accuracy, majority class {ref['chance']:.2f}, n={ref['n_images']}): {scores}")
    lines += [f"{name} probe skipped: {reason}" for name, reason in results.get("skipped", {}).items()]
    for name in results["probes"] if results.get("curve") else []:
        points = ", ".join(f"{p['iteration']}: {p['probes'][name]['auroc_mean']:.3f}" for p in results["curve"])
        lines.append(f"{name} probe AUROC of the teacher by iteration: {points}")
    return "\n".join(lines)


def _paired(runs: Sequence[Mapping[str, Any]], name: str, key: str) -> dict[str, Any]:
    """Per-seed pretrained − random-init difference of one probe metric, its mean ± std, wins and sign-test p."""
    diffs = [
        float(r["probes"][name]["pretrained"][key]) - float(r["probes"][name]["random_init"][key]) for r in runs
    ]
    wins = sum(d > 0 for d in diffs)
    diff_mean, diff_std = mean_std(diffs)
    return {"diff_per_seed": diffs, "diff_mean": diff_mean, "diff_std": diff_std, "wins": wins,
            "sign_p": sign_test_p(wins, len(diffs))}


def combine_seeds(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate :func:`~raddino_monai.experiments.ssl_evidence.ssl_evidence` results of several seeds.

    Args:
        runs: one results dict per seed (same datalist and recipe).

    Returns:
        ``{"n_seeds", "pretraining_mode", "images_per_s", "data_wait_share"`` (medians over seeds), ``"probes": {name:
        {encoder: {"per_seed", "mean", "std", "auroc_per_seed", "auroc_mean", "auroc_std", "chance"}}}`` and ``"paired":
        {name: {"accuracy" | "auroc": {"diff_per_seed", "diff_mean", "diff_std", "wins", "sign_p"}}}}``: the
        pretrained − random init difference per seed, its mean ± std, the seeds where it is positive and the
        one-sided exact sign test (:func:`sign_test_p`).

    Raises:
        ValueError: no runs, runs that probed different attributes, or runs of different pretraining modes.
    """
    if not runs:
        raise ValueError("combine_seeds needs at least one ssl_evidence result.")
    names = list(runs[0]["probes"])
    if any(list(r["probes"]) != names for r in runs):
        raise ValueError(f"runs probed different attributes: {[list(r['probes']) for r in runs]}.")
    modes = sorted({r.get("pretraining_mode", "all_images") for r in runs})
    if len(modes) > 1:
        raise ValueError(f"runs mix pretraining modes {modes}; combine runs of one mode.")
    out: dict[str, Any] = {
        "n_seeds": len(runs),
        "pretraining_mode": modes[0],
        "images_per_s": float(median(r["pretraining"]["images_per_s"] for r in runs)),
        "data_wait_share": float(median(r["pretraining"]["data_wait_share"] for r in runs)),
        "probes": {},
        "paired": {},
    }
    for name in names:
        rows: dict[str, Any] = {}
        for enc in runs[0]["probes"][name]:
            rows[enc] = {"chance": runs[0]["probes"][name][enc]["chance"]}
            for prefix, _ in METRICS.values():
                per_seed = [float(r["probes"][name][enc][f"{prefix}mean"]) for r in runs]
                rows[enc][f"{prefix}per_seed"] = per_seed
                rows[enc][f"{prefix}mean"], rows[enc][f"{prefix}std"] = mean_std(per_seed)
        out["probes"][name] = rows
        out["paired"][name] = {metric: _paired(runs, name, f"{prefix}mean") for metric, (prefix, _) in METRICS.items()}
    return out


def format_combined(combined: Mapping[str, Any]) -> str:
    """One line for throughput and one per probe and metric of :func:`combine_seeds` output: mean ± std over seeds
    of each encoder, then the paired difference, the seeds where the pretrained teacher is ahead and the sign test.
    """
    n = combined["n_seeds"]
    lines = [
        f"{n} seeds ({combined.get('pretraining_mode', 'all_images')}): "
        f"median {combined['images_per_s']:.1f} images/s, "
        f"{100 * combined['data_wait_share']:.0f}% of each step waiting for data"
    ]
    for name, rows in combined["probes"].items():
        chance = next(iter(rows.values()))["chance"]
        for metric, (prefix, label) in METRICS.items():
            scores = ", ".join(f"{enc} {r[prefix + 'mean']:.3f} ± {r[prefix + 'std']:.3f}" for enc, r in rows.items())
            ref = f", majority class {chance:.2f}" if metric == "accuracy" else ""
            paired = combined["paired"][name][metric]
            lines.append(
                f"{name} probe {label} over seeds{ref}: {scores}; pretrained − random init "
                f"{paired['diff_mean']:+.3f} ± {paired['diff_std']:.3f}, ahead in {paired['wins']}/{n} seeds "
                f"(one-sided sign test p = {paired['sign_p']:.3g})"
            )
    return "\n".join(lines)

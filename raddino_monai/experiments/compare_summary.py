"""Tables of :func:`raddino_monai.experiments.compare_pretraining.compare_pretraining`: mean ± std over seeds per
method, and the paired difference of every method to the reference method.

Each seed fixes the patient split, the pretraining of every method and the probe splits, folds and heads, so the
methods of one seed are evaluated on the same held-out images with the same folds: the per-seed difference
(reference − method) is the paired quantity, summarised as mean ± std, the seeds where the reference is ahead, and
the one-sided exact sign test of :func:`raddino_monai.experiments.evidence_summary.sign_test_p`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from raddino_monai.evaluation.metrics import mean_std
from raddino_monai.experiments.evidence_summary import sign_test_p

__all__ = ["row_key", "summarise_methods", "markdown_summary", "budget_table"]


def row_key(record: Mapping[str, Any]) -> str:
    """Table row of a record: ``"task / setting / metric"``.

    Example:
        >>> row_key({"task": "retrieval", "setting": "image_to_image", "metric": "precision@5"})
        'retrieval / image_to_image / precision@5'
    """
    return f"{record['task']} / {record['setting']} / {record['metric']}"


def summarise_methods(records: Sequence[Mapping[str, Any]], methods: Sequence[str], seeds: Sequence[int],
                      reference: str) -> list[dict[str, Any]]:
    """One summary row per evaluation metric.

    Args:
        records: long-format records with ``method``, ``seed``, ``task``, ``setting``, ``metric``, ``value``.
        methods: methods in table order.
        seeds: seeds of the run.
        reference: the method the others are compared with (its paired columns are omitted).

    Returns:
        rows ``{"row", "n_seeds", "<method>": {"per_seed", "mean", "std"}, "paired": {method: {"diff_per_seed",
        "diff_mean", "diff_std", "wins", "n", "sign_p"}}}`` (stds NaN for one seed); a seed where either value is
        missing (NaN, or the evaluation was skipped) is left out of that pair.

    Raises:
        ValueError: ``reference`` is not one of ``methods`` (valid values listed).
    """
    if reference not in methods:
        raise ValueError(f"reference method {reference!r} is not compared; valid values are {list(methods)}.")
    values: dict[str, dict[tuple[str, int], float]] = {}
    for r in records:
        values.setdefault(row_key(r), {})[(str(r["method"]), int(r["seed"]))] = float(r["value"])
    rows = []
    for key, cell in values.items():
        row: dict[str, Any] = {"row": key, "n_seeds": len(seeds), "paired": {}}
        for method in methods:
            per_seed = [cell.get((method, s), math.nan) for s in seeds]
            finite = [v for v in per_seed if not math.isnan(v)]
            mean, std = mean_std(finite) if finite else (math.nan, math.nan)
            std = std if len(finite) > 1 else math.nan  # one seed: no spread to show
            row[method] = {"per_seed": per_seed, "mean": mean, "std": std}
        for method in methods:
            if method == reference:
                continue
            diffs = [a - b for a, b in zip(row[reference]["per_seed"], row[method]["per_seed"])
                     if not (math.isnan(a) or math.isnan(b))]
            if not diffs:
                continue
            wins = sum(d > 0 for d in diffs)
            diff_mean, diff_std = mean_std(diffs)
            diff_std = diff_std if len(diffs) > 1 else math.nan
            row["paired"][method] = {"diff_per_seed": diffs, "diff_mean": diff_mean, "diff_std": diff_std,
                                     "wins": wins, "n": len(diffs), "sign_p": sign_test_p(wins, len(diffs))}
        rows.append(row)
    return rows


def _cell(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def markdown_summary(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], reference: str) -> str:
    """Markdown table: one row per metric, ``mean ± std`` over seeds per method, then per other method the paired
    ``reference − method`` difference with the seeds where the reference is ahead and the sign-test p-value.

    Example:
        >>> rows = summarise_methods([{"method": m, "seed": 0, "task": "t", "setting": "s", "metric": "auroc",
        ...                            "value": v} for m, v in (("ssl", 0.8), ("random", 0.6))], ["ssl", "random"],
        ...                          [0], "ssl")
        >>> print(markdown_summary(rows, ["ssl", "random"], "ssl"))
        | evaluation | ssl | random | ssl − random (paired) |
        |---|---|---|---|
        | t / s / auroc | 0.800 | 0.600 | +0.200 (ahead 1/1, p = 0.5) |
    """
    others = [m for m in methods if m != reference]
    header = ["evaluation", *methods, *[f"{reference} − {m} (paired)" for m in others]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["row"], *[_cell(row[m]["mean"], row[m]["std"]) for m in methods]]
        for m in others:
            p = row["paired"].get(m)
            if p is None:
                cells.append("–")
                continue
            spread = "" if math.isnan(p["diff_std"]) else f" ± {p['diff_std']:.3f}"
            cells.append(f"{p['diff_mean']:+.3f}{spread} (ahead {p['wins']}/{p['n']}, p = {p['sign_p']:.3g})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def budget_table(pretraining: Mapping[str, Mapping[int, Mapping[str, float]]], budget: Mapping[str, Any]) -> str:
    """Markdown table of what each method got and did: budget steps, steps done, images seen, minutes, images/s
    (medians over seeds are not taken: one line per method and seed).

    Args:
        pretraining: ``{method: {seed: stats}}`` (the ``stats`` of
            :class:`~raddino_monai.experiments.pretraining_methods.PretrainedEncoder`).
        budget: :func:`~raddino_monai.experiments.pretraining_methods.budget_dict` output.
    """
    lines = ["| method | seed | budget steps × batch | steps done | images seen | minutes | training images/s |",
             "|---|---|---|---|---|---|---|"]
    for method, per_seed in pretraining.items():
        for seed, stats in per_seed.items():
            done = stats.get("iterations", math.nan)
            ips = stats.get("images_per_s", math.nan)
            lines.append(
                f"| {method} | {seed} | {budget['steps']} × {budget['batch_size']} | "
                f"{'–' if math.isnan(done) else int(done)} | "
                f"{'–' if math.isnan(stats.get('images_seen', math.nan)) else int(stats['images_seen'])} | "
                f"{stats.get('seconds', math.nan) / 60:.1f} | {'–' if math.isnan(ips) else f'{ips:.1f}'} |"
            )
    return "\n".join(lines)

"""Result tables: long-format records -> CSV and a paper-style Markdown table (encoders as rows).

A record is ``{"encoder", "task", "setting", "metric", "mean", "std", "n"}`` (``setting`` = label fraction, head,
attribute ...). :func:`markdown_table` pivots them into one row per encoder and one column per
``task / setting / metric``, with cells ``mean ± std`` (values ×100 for metrics in [0, 1], as in the paper's tables).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["RECORD_FIELDS", "format_mean_std", "summary_records", "write_csv", "markdown_table", "write_results"]

RECORD_FIELDS: tuple[str, ...] = ("encoder", "task", "setting", "metric", "mean", "std", "n")


def format_mean_std(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    """``"mean ± std"`` with ``scale`` applied; ``"–"`` for NaN.

    Example:
        >>> format_mean_std(0.8532, 0.0121)
        '85.3 ± 1.2'
    """
    if mean is None or math.isnan(float(mean)):
        return "–"
    std_txt = "–" if std is None or math.isnan(float(std)) else f"{float(std) * scale:.{digits}f}"
    return f"{float(mean) * scale:.{digits}f} ± {std_txt}"


def summary_records(
    encoder: str, task: str, summary: Mapping[Any, Mapping[str, tuple[float, float]]], n: int,
    metrics: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Records from ``{setting: {metric: (mean, std)}}`` (the ``summary`` of the probe / segmentation runners).

    Args:
        encoder: encoder label.
        task: task label.
        summary: per-setting metric summaries.
        n: number of runs (seeds / folds / images) behind each mean.
        metrics: metrics to keep (default: all).
    """
    return [
        {"encoder": encoder, "task": task, "setting": str(setting), "metric": metric, "mean": ms[0], "std": ms[1],
         "n": n}
        for setting, values in summary.items()
        for metric, ms in values.items()
        if metrics is None or metric in metrics
    ]


def write_csv(records: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write records (:data:`RECORD_FIELDS` first, extra keys after) as CSV; returns the path."""
    present = [k for r in records for k in r]
    extra = dict.fromkeys(k for k in present if k not in RECORD_FIELDS)
    fields = [f for f in RECORD_FIELDS if f in present] + list(extra)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(records)
    return Path(path)


def markdown_table(records: Sequence[Mapping[str, Any]], scale: float = 100.0, digits: int = 1) -> str:
    """Pivot records into a Markdown table: one row per encoder, one column per ``task / setting / metric``.

    Example:
        >>> print(markdown_table([{"encoder": "rad-dino", "task": "cls", "setting": "1.0", "metric": "auprc",
        ...                        "mean": 0.5, "std": 0.01}]))
        | encoder | cls / 1.0 / auprc |
        |---|---|
        | rad-dino | 50.0 ± 1.0 |
    """
    columns: list[tuple[str, str, str]] = []
    encoders: list[str] = []
    cells: dict[tuple[str, tuple[str, str, str]], str] = {}
    for r in records:
        col = (str(r["task"]), str(r["setting"]), str(r["metric"]))
        if col not in columns:
            columns.append(col)
        if r["encoder"] not in encoders:
            encoders.append(str(r["encoder"]))
        cells[(str(r["encoder"]), col)] = format_mean_std(r["mean"], r["std"], scale, digits)
    header = "| encoder | " + " | ".join(" / ".join(c) for c in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 1)]
    lines += ["| " + e + " | " + " | ".join(cells.get((e, c), "–") for c in columns) + " |" for e in encoders]
    return "\n".join(lines)


def write_results(
    records: Sequence[Mapping[str, Any]], output_dir: str | Path, config: Mapping[str, Any], name: str = "results"
) -> dict[str, Path]:
    """Write ``<name>.csv``, ``<name>.md`` and the resolved ``config.json`` into ``output_dir``.

    Returns:
        ``{"csv", "markdown", "config"}`` paths.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(records, out / f"{name}.csv")
    md_path = out / f"{name}.md"
    md_path.write_text(markdown_table(records) + "\n")
    cfg_path = out / "config.json"
    cfg_path.write_text(json.dumps(config, indent=2, default=str) + "\n")
    return {"csv": csv_path, "markdown": md_path, "config": cfg_path}

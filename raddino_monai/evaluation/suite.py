"""Evaluation suite: every task for every encoder, one combined results table (``tools/evaluate.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .runners import JOBS, parse_encoder
from .tables import write_results

__all__ = ["SUITE_TASKS", "run_suite"]


#: task name -> job: the jobs of :data:`.runners.JOBS` (fn(encoder spec, datalist, output folder, options)).
SUITE_TASKS = JOBS


def run_suite(
    encoders: Sequence[str],
    tasks: Sequence[str],
    datalist: str | Path | None,
    output_dir: str | Path,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run ``tasks`` for ``encoders`` and write the combined ``results.{csv,md}`` and ``config.json``.

    Args:
        encoders: encoder specs (``arch`` or ``arch:weights``).
        tasks: keys of :data:`SUITE_TASKS`.
        datalist: datalist path (``None``: embedded sample data).
        output_dir: results folder (one sub-folder per encoder and task).
        options: per-task config overrides.

    Returns:
        ``{"records", "files"}``.

    Raises:
        ValueError: an unknown task (before anything runs).
    """
    unknown = [t for t in tasks if t not in SUITE_TASKS]
    if unknown:
        raise ValueError(f"Unknown tasks {unknown}; valid values: {sorted(SUITE_TASKS)}.")
    options = options or {}
    out = Path(output_dir)
    records: list[dict[str, Any]] = []
    for encoder in encoders:
        for task in tasks:
            folder = out / parse_encoder(encoder)[0] / task
            records += SUITE_TASKS[task](encoder, datalist, folder, options.get(task, {}))["records"]
    cfg = {"encoders": list(encoders), "tasks": list(tasks), "datalist": str(datalist), "options": dict(options)}
    return {"records": records, "files": write_results(records, out, cfg)}

"""Generate reports for many images and write them as CSV or JSON rows ``{"id", "report"}``.

Batches are appended to ``<out>.parts.jsonl`` as they finish (flushed and fsync'ed; its first line records the
decoding settings and the model's LM, mode and config), so an interrupted run with the same settings resumes after
the last finished batch (other settings raise instead of mixing results); the final file is written under a
temporary name and renamed into place. An existing output is never overwritten (pass a new path, or
``overwrite=True``).

Output formats (by suffix, :data:`REPORT_WRITERS`): ``.csv`` with the header ``id,report`` (the format the report
metrics read), ``.json`` as a list of ``{"id": ..., "report": ...}`` objects.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from raddino_monai.report.config import ReportGenerationConfig
from raddino_monai.report.model import ReportGenerator

__all__ = ["REPORT_WRITERS", "check_report_path", "write_reports", "read_reports", "generate_reports"]


def _write_csv(path: Path, rows: Sequence[Mapping[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "report"])
        writer.writeheader()
        writer.writerows({"id": r["id"], "report": r["report"]} for r in rows)


def _write_json(path: Path, rows: Sequence[Mapping[str, str]]) -> None:
    path.write_text(json.dumps([{"id": r["id"], "report": r["report"]} for r in rows], indent=1), encoding="utf-8")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(r) for r in csv.DictReader(f)]


def _read_json(path: Path) -> list[dict[str, str]]:
    return list(json.loads(path.read_text(encoding="utf-8")))


#: output suffix -> (writer, reader)
REPORT_WRITERS: dict[str, tuple[Callable[[Path, Sequence[Mapping[str, str]]], None], Callable[[Path], list]]] = {
    ".csv": (_write_csv, _read_csv),
    ".json": (_write_json, _read_json),
}


def check_report_path(path: str | Path, overwrite: bool = False) -> Path:
    """Validate an output path before any work.

    Raises:
        ValueError: unsupported suffix (valid ones listed).
        FileExistsError: the file exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.suffix not in REPORT_WRITERS:
        raise ValueError(f"Report file {path}: suffix must be one of {list(REPORT_WRITERS)}, found {path.suffix!r}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"Report file {path} exists; pass a new path or overwrite=True (nothing overwritten).")
    return path


def write_reports(path: str | Path, rows: Sequence[Mapping[str, str]], overwrite: bool = False) -> Path:
    """Write ``[{"id", "report"}, ...]`` atomically as CSV or JSON (by suffix).

    Raises:
        ValueError / FileExistsError: see :func:`check_report_path`.
    """
    path = check_report_path(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    REPORT_WRITERS[path.suffix][0](tmp, rows)
    os.replace(tmp, path)
    return path


def read_reports(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV / JSON written by :func:`write_reports` (or any CSV with ``id`` and ``report`` columns).

    Raises:
        ValueError: unsupported suffix, or rows without ``id`` / ``report`` (the first one is named).
    """
    path = Path(path)
    if path.suffix not in REPORT_WRITERS:
        raise ValueError(f"Report file {path}: suffix must be one of {list(REPORT_WRITERS)}, found {path.suffix!r}.")
    rows = REPORT_WRITERS[path.suffix][1](path)
    for n, row in enumerate(rows):
        if "id" not in row or "report" not in row:
            raise ValueError(f"{path}: row {n} lacks 'id' or 'report' (found {sorted(row)}).")
    return rows


def _parts_path(path: Path) -> Path:
    return path.with_name(path.name + ".parts.jsonl")


def _read_parts(parts: Path, settings: Mapping[str, Any]) -> dict[str, str]:
    """Reports finished by an interrupted run with the same ``settings`` (its first line)."""
    done: dict[str, str] = {}
    if not parts.is_file():
        return done
    lines = [json.loads(line) for line in parts.read_text(encoding="utf-8").splitlines() if line.strip()]
    if lines and lines[0].get("settings") != settings:
        old = lines[0].get("settings") or {}
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        raise ValueError(f"{parts}: partial results were made with other settings ({diff}); delete it or pass "
                         "resume=False.")
    for row in lines[1:]:
        done[row["id"]] = row["report"]
    return done


def generate_reports(
    model: ReportGenerator,
    ids: Sequence[str],
    tokens: np.ndarray | torch.Tensor | None,
    out_path: str | Path,
    config: ReportGenerationConfig | None = None,
    *,
    prompts: Sequence[str] | None = None,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Generate one report per id and write ``id,report`` rows.

    Args:
        model: the report model (eval mode is set while generating).
        ids: image ids, one per row of ``tokens``.
        tokens: ``(N, T, D)`` encoder tokens (:func:`~raddino_monai.report.features.load_feature_tokens`);
            ``None`` for text-only models.
        out_path: ``.csv`` or ``.json``.
        config: decoding settings (``batch_size``, beams, cache, precision).
        prompts: per-image prompts instead of the model's.
        resume: keep finished batches of an interrupted run (``<out>.parts.jsonl``).
        overwrite: replace an existing output.
        progress: show a progress bar.

    Returns:
        ``out_path``.

    Raises:
        ValueError: ``tokens`` / ``prompts`` rows do not match ``ids``; bad suffix.
        FileExistsError: the output exists and ``overwrite`` is False.
    """
    config = config or ReportGenerationConfig()
    out_path = check_report_path(out_path, overwrite)
    ids = [str(i) for i in ids]
    if tokens is not None and len(tokens) != len(ids):
        raise ValueError(f"generate_reports: {len(tokens)} feature rows for {len(ids)} ids.")
    if prompts is not None and len(prompts) != len(ids):
        raise ValueError(f"generate_reports: {len(prompts)} prompts for {len(ids)} ids.")
    parts = _parts_path(out_path)
    if not resume:
        parts.unlink(missing_ok=True)
    settings = json.loads(json.dumps({**dataclasses.asdict(config), "lm": model.lm_source, "mode": model.mode,
                                      "model": model.config.to_dict(), "n_ids": len(ids)}))
    done = _read_parts(parts, settings)
    todo = [n for n, i in enumerate(ids) if i not in done]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(parts, "a", encoding="utf-8") as log:
        if not parts.stat().st_size:
            log.write(json.dumps({"settings": settings}) + "\n")
        batches = range(0, len(todo), config.batch_size)
        for start in tqdm(batches, desc="reports", unit="batch", disable=not progress):
            rows = todo[start : start + config.batch_size]
            feats = None if tokens is None else torch.as_tensor(np.asarray(tokens[rows]), dtype=torch.float32)
            texts = model.generate(feats, config, prompts=None if prompts is None else [prompts[r] for r in rows],
                                   batch_size=len(rows))
            for r, text in zip(rows, texts):
                done[ids[r]] = text
                log.write(json.dumps({"id": ids[r], "report": text}) + "\n")
            log.flush()
            os.fsync(log.fileno())
    write_reports(out_path, [{"id": i, "report": done[i]} for i in ids], overwrite=overwrite)
    parts.unlink(missing_ok=True)
    return out_path

"""File-level entry points behind ``tools/report.py``: label a CSV of reports, evaluate predictions against
references, validate the rule labeler on Open-i. Each refuses to overwrite an existing output.

CSV conventions: ``label`` reads a ``report`` column and adds one column per CheXpert observation (named as in
CheXpert; 1 positive, 0 negative, -1 uncertain, empty when not mentioned). ``evaluate`` reads two CSVs with ``id`` and
``report`` columns (predictions, references), pairs them by ``id`` and writes ``metrics.json``, ``metrics.csv`` and
``per_report.csv``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from raddino_monai.evaluation.report.evaluate import ReportMetricsConfig, evaluate_reports
from raddino_monai.evaluation.report.labeler import CheXpertRuleLabeler
from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS

__all__ = ["read_report_csv", "label_csv", "evaluate_csv", "format_metrics", "validate_labeler"]

_OUTPUTS = ("metrics.json", "metrics.csv", "per_report.csv")


def _refuse_existing(paths: Sequence[Path]) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise FileExistsError(f"refusing to overwrite {existing}: choose another output or move them away.")


def read_report_csv(path: str | os.PathLike[str], column: str = "report", id_column: str | None = "id") -> list[dict]:
    """Rows of a CSV of reports.

    Args:
        path: CSV file with a header row.
        column: the report column.
        id_column: a column that must be present and unique (None: not checked).

    Returns:
        the rows as dicts (all columns as strings; an empty report is ``""``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a column is missing or an id repeats (the message names the file, the column, what it found).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"report CSV {file} does not exist.")
    with file.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        wanted = [c for c in (column, id_column) if c is not None]
        missing = [c for c in wanted if c not in fields]
        if missing:
            raise ValueError(f"{file}: expected columns {wanted}; missing {missing}, found {fields}.")
        rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    if id_column is not None:
        counts = Counter(row[id_column] for row in rows)
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(f"{file}: column {id_column!r} must be unique; repeated ids {repeated[:10]}.")
    return rows


def _cell(value: float) -> str:
    return "" if math.isnan(value) else str(int(value))


def label_csv(in_csv: str | os.PathLike[str], out_csv: str | os.PathLike[str], column: str = "report") -> Path:
    """Label every report of ``in_csv`` with the rule labeler and write ``out_csv``.

    Args:
        in_csv: CSV with a ``column`` column (other columns are copied).
        out_csv: output CSV (must not exist): the input columns, then the 14 observation columns.
        column: the report column.

    Returns:
        the written path.

    Raises:
        FileExistsError: ``out_csv`` exists.
        ValueError: ``column`` is missing, or the input already has an observation column.
    """
    out = Path(out_csv).expanduser()
    _refuse_existing([out])
    rows = read_report_csv(in_csv, column=column, id_column=None)
    clash = [c for c in CHEXPERT_OBSERVATIONS if rows and c in rows[0]]
    if clash:
        raise ValueError(f"{in_csv}: already has observation columns {clash}; label a CSV without them.")
    labels = CheXpertRuleLabeler().label_many(row[column] for row in rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = [*(rows[0] if rows else {column: ""}), *CHEXPERT_OBSERVATIONS]
    with out.open("x", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row, values in zip(rows, labels):
            writer.writerow({**row, **{name: _cell(v) for name, v in zip(CHEXPERT_OBSERVATIONS, values)}})
    return out


def _pair(pred_csv: str | os.PathLike[str], ref_csv: str | os.PathLike[str]) -> tuple[list[str], list[str], list[str]]:
    preds = {row["id"]: row["report"] for row in read_report_csv(pred_csv)}
    refs = read_report_csv(ref_csv)
    missing = [row["id"] for row in refs if row["id"] not in preds]
    extra = sorted(set(preds) - {row["id"] for row in refs})
    if missing or extra:
        raise ValueError(f"{pred_csv} and {ref_csv} must list the same ids: {len(missing)} reference ids have no "
                         f"prediction {missing[:10]}, {len(extra)} predictions have no reference {extra[:10]}.")
    ids = [row["id"] for row in refs]
    return ids, [preds[i] for i in ids], [row["report"] for row in refs]


def format_metrics(metrics: dict[str, Any]) -> str:
    """Markdown table of the headline metrics (per-observation F1 left out)."""
    lines = ["| metric | value | median [95% CI] |", "|---|---|---|"]
    for name, entry in metrics.items():
        if "/f1/" in name:
            continue
        if entry["status"] != "ok":
            lines.append(f"| {name} | {entry['status']} | |")
        else:
            lines.append(f"| {name} | {entry['value']:.2f} | {entry['median']:.2f} "
                         f"[{entry['ci_low']:.2f}, {entry['ci_high']:.2f}] |")  # fmt: skip
    return "\n".join(lines)


def _labels_text(row: np.ndarray) -> str:
    return ";".join(f"{name}:{int(v)}" for name, v in zip(CHEXPERT_OBSERVATIONS, row) if not math.isnan(v))


def evaluate_csv(
    pred_csv: str | os.PathLike[str],
    ref_csv: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    config: ReportMetricsConfig | None = None,
) -> dict[str, Any]:
    """Evaluate predictions against references (both CSVs with ``id`` and ``report``) and write the results.

    Args:
        pred_csv: generated reports.
        ref_csv: reference reports (defines the order).
        output_dir: folder for ``metrics.json``, ``metrics.csv``, ``per_report.csv`` (none of them may exist).
        config: metric options.

    Returns:
        :func:`~.evaluate.evaluate_reports`'s result plus ``"files"`` (the written paths) and ``"table"``
        (Markdown).

    Raises:
        FileExistsError: an output file exists.
        ValueError: missing columns, repeated ids, or id sets that differ.
    """
    folder = Path(output_dir).expanduser()
    files = {name: folder / name for name in _OUTPUTS}
    _refuse_existing(list(files.values()))
    ids, predictions, references = _pair(pred_csv, ref_csv)
    result = evaluate_reports(predictions, references, config)
    folder.mkdir(parents=True, exist_ok=True)
    summary = {"n": result["n"], "pred_csv": str(pred_csv), "ref_csv": str(ref_csv), "config": result["config"],
               "metrics": result["metrics"]}  # fmt: skip
    with files["metrics.json"].open("x", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    with files["metrics.csv"].open("x", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["metric", "status", "value", "median", "ci_low", "ci_high"])
        writer.writeheader()
        for name, entry in result["metrics"].items():
            writer.writerow({"metric": name, **{k: entry.get(k, "") for k in writer.fieldnames[1:]}})
    per = result["per_report"]
    with files["per_report.csv"].open("x", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        header = ["id", "rouge_l", "chexpert_rules_pred", "chexpert_rules_ref"]
        header += [f"radgraph_{k}" for k in ("rg_e", "rg_er", "rg_er_bar")] if "radgraph" in per else []
        writer.writerow(header)
        for i, report_id in enumerate(ids):
            row = [report_id, f"{per['rouge_l'][i]:.4f}", _labels_text(per["chexpert_rules/pred"][i]),
                   _labels_text(per["chexpert_rules/ref"][i])]  # fmt: skip
            row += [f"{v:.4f}" for v in per["radgraph"][i]] if "radgraph" in per else []
            writer.writerow(row)
    return {**result, "files": files, "table": format_metrics(result["metrics"])}


def validate_labeler(
    openi: str | os.PathLike[str], output_dir: str | os.PathLike[str], section: str = "findings+impression"
) -> dict[str, Any]:
    """Agreement of the rule labeler with the MeSH terms of Open-i reports, per observation, plus its speed.

    Args:
        openi: Open-i reports (``NLMCXR_reports.tgz``, the XML folder, or the Open-i CSV).
        output_dir: folder for ``agreement.csv`` and ``agreement.md`` (neither may exist).
        section: report text labelled.

    Returns:
        ``{"rows": {"uncertain_negative": [...], "uncertain_positive": [...]}, "reports_per_s", "n_reports",
        "files", "table"}``.
    """
    from raddino_monai.data.openi import read_openi
    from raddino_monai.evaluation.report.mesh import agreement

    folder = Path(output_dir).expanduser()
    files = {"csv": folder / "agreement.csv", "markdown": folder / "agreement.md"}
    _refuse_existing(list(files.values()))
    reports = read_openi(openi)
    texts = [r.text(section) for r in reports]
    start = time.perf_counter()
    labels = CheXpertRuleLabeler().label_many(texts)
    speed = len(texts) / (time.perf_counter() - start)
    rows = {f"uncertain_{'positive' if u else 'negative'}": agreement(labels, [r.mesh_major for r in reports], u)
            for u in (False, True)}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(rows["uncertain_negative"][0])
    with files["csv"].open("x", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["uncertain", *columns])
        writer.writeheader()
        for policy, table in rows.items():
            writer.writerows({"uncertain": policy.removeprefix("uncertain_"), **r} for r in table)
    lines = [f"{len(reports)} Open-i reports ({section}), {speed:.0f} reports/s", "",
             "| observation | MeSH+ | labeler+ | precision | recall | F1 | kappa | F1 (uncertain = +) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for neg, pos in zip(rows["uncertain_negative"], rows["uncertain_positive"]):
        lines.append(f"| {neg['observation']} | {neg['reference_positive']} | {neg['labeler_positive']} | "
                     f"{neg['precision']:.1f} | {neg['recall']:.1f} | {neg['f1']:.1f} | {neg['kappa']:.2f} | "
                     f"{pos['f1']:.1f} |")  # fmt: skip
    lines.append(f"| macro | | | | | {np.nanmean([r['f1'] for r in rows['uncertain_negative']]):.1f} | | "
                 f"{np.nanmean([r['f1'] for r in rows['uncertain_positive']]):.1f} |")  # fmt: skip
    table = "\n".join(lines)
    with files["markdown"].open("x", encoding="utf-8") as f:
        f.write(table + "\n")
    return {"rows": rows, "reports_per_s": speed, "n_reports": len(reports), "files": files, "table": table}

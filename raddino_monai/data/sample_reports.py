"""Short report-like texts synthesised from the embedded sample's metadata (view, sex, finding), for smoke runs.

The sample data (``raddino_monai/sample_data``) ships no report text: its source's clinical notes are CC BY-NC-SA and
Open-i reports CC BY-NC-ND, so neither may be committed. To let the image + report pipelines (ConVIRT) run on the
sample by default, :func:`with_metadata_reports` writes a three-sentence text per item from facts already in the
datalist, e.g. ``"Chest radiograph, PA view. Patient sex: male. Finding: COVID-19."``. This is **not** radiology
report text: it carries only the view, sex and finding labels, so a model trained on it learns to match images with
those labels. Use it to check that a pipeline runs, never to judge language supervision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["metadata_report", "with_metadata_reports"]

_SEX = {"M": "male", "F": "female"}


def metadata_report(item: Mapping[str, Any]) -> str:
    """Three sentences from ``view``, ``sex`` and ``finding`` (``"unknown"`` where missing)."""
    view = item.get("view") or "unknown"
    sex = _SEX.get(str(item.get("sex") or ""), "unknown")
    finding = item.get("finding") or item.get("label") or "unknown"
    return f"Chest radiograph, {view} view. Patient sex: {sex}. Finding: {finding}."


def with_metadata_reports(items: Sequence[Mapping[str, Any]], report_key: str = "report") -> list[dict[str, Any]]:
    """Copies of ``items`` with :func:`metadata_report` under ``report_key`` where they have no report."""
    return [{**item, report_key: item.get(report_key) or metadata_report(item)} for item in items]

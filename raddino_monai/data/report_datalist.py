"""Image + report datalists and report corpora: one loader that applies the section policy and counts what it skips.

* :func:`load_report_datalist`: a datalist (JSON/CSV, :mod:`raddino_monai.data.datalist`) whose items carry
  ``image`` and ``report``; each report is reduced to the wanted section
  (:func:`~raddino_monai.data.report_text.select_section`), items without usable text are skipped and listed
  (index and image path, never patient identifiers).
* :func:`read_report_texts`: the report texts of a corpus (for tokenizer / language-model training): a CSV with a
  ``report`` column, a datalist JSON, an Open-i source (XML folder, ``.tgz``, Open-i CSV) or a ``.txt`` file with
  one report per line.

Example::

    >>> data = load_report_datalist("data/cxr_reports.json", split="training", section="findings")
    >>> len(data.items), len(data.skipped)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raddino_monai.data.datalist import DatalistError, load_datalist, validate_datalist
from raddino_monai.data.openi import read_openi
from raddino_monai.data.report_text import select_section

__all__ = ["ReportDatalist", "load_report_datalist", "read_report_texts"]


@dataclass
class ReportDatalist:
    """Items with usable report text, and what was left out.

    Attributes:
        items: datalist items; ``report`` holds the selected section's text.
        skipped: one line per left-out item: ``"item <i> (<image>): <reason>"``.
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def load_report_datalist(
    path: str | os.PathLike[str],
    split: str | Sequence[str] | None = None,
    section: str = "findings",
    fallback: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> ReportDatalist:
    """Load an image + report datalist, keep the wanted report section, skip and count items without text.

    Args:
        path: datalist ``.json`` / ``.csv`` with ``image`` and ``report`` per item.
        split: section(s) of the datalist (:func:`~raddino_monai.data.datalist.load_datalist`).
        section: report section kept (``"findings"``, ``"impression"``, ``"findings+impression"``, ``"full"``).
        fallback: section used when ``section`` is empty (e.g. ``"impression"``).
        base_dir: folder relative image paths are resolved against (default: the datalist's folder).

    Returns:
        the kept items (new dicts, ``report`` replaced by the section text) and the skipped ones.

    Raises:
        DatalistError: an item lacks ``image``, an image file is missing, or a ``report`` is not text (every
            problem listed, naming the item and the file).
    """
    items = load_datalist(path, split=split, base_dir=base_dir)
    validate_datalist(items, path_keys=("image",), required_keys=("image",), source=str(path))
    result = ReportDatalist()
    for index, item in enumerate(items):
        report = item.get("report")
        text = select_section(report, section, fallback) if report else ""
        if not text:
            reason = "no report" if not report else f"no {section!r} text" + (f" nor {fallback!r}" if fallback else "")
            result.skipped.append(f"item {index} ({item['image']}): {reason}")
            continue
        result.items.append({**item, "report": text})
    return result


def _csv_texts(path: Path, column: str, section: str, fallback: str | None) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        if column not in fields:
            if {"findings", "impression"} <= set(fields):  # the Open-i CSV form
                return [r.text(section, fallback) for r in read_openi(path)]
            raise DatalistError(str(path), [f"expected a {column!r} column (or Open-i's 'findings' and "
                                            f"'impression'), found columns {fields}"])  # fmt: skip
        return [select_section(row[column] or "", section, fallback) for row in reader]


def read_report_texts(
    path: str | os.PathLike[str],
    column: str = "report",
    section: str = "findings+impression",
    fallback: str | None = None,
) -> list[str]:
    """Report texts of a corpus, one string per report, empty ones left out.

    Args:
        path: ``.csv`` with a ``column`` column (or the Open-i CSV form); datalist ``.json`` (items' ``report``);
            Open-i XML folder / ``.xml`` / ``.tgz`` / ``.tar.gz``; ``.txt`` (one report per non-empty line).
        column: CSV column holding the reports.
        section: section kept from each report (:func:`~raddino_monai.data.report_text.select_section`).
        fallback: section used when ``section`` is empty.

    Returns:
        the non-empty texts, in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DatalistError / ValueError: unsupported input or missing column (the message names the file and what it
            found).
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"read_report_texts: {source} does not exist.")
    name = source.name.lower()
    if name.endswith(".csv"):
        texts = _csv_texts(source, column, section, fallback)
    elif name.endswith(".json"):
        texts = [select_section(i.get("report") or "", section, fallback) for i in load_datalist(source)]
    elif name.endswith(".txt"):
        texts = [select_section(line, section, fallback) for line in source.read_text(encoding="utf-8").splitlines()]
    else:
        texts = [r.text(section, fallback) for r in read_openi(source)]
    return [t for t in texts if t]

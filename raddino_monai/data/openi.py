"""Open-i (Indiana University chest X-ray collection) reports: XML and CSV parsing, image + report datalists.

The collection (Demner-Fushman et al., JAMIA 2016; CC BY-NC-ND 4.0) ships one XML file per report
(``ecgen-radiology/<n>.xml``, often as ``NLMCXR_reports.tgz``): ``AbstractText`` elements labelled ``COMPARISON``,
``INDICATION``, ``FINDINGS`` and ``IMPRESSION``, human-assigned MeSH terms (``MeSH/major``) and automatic ones
(``MeSH/automatic``), and one ``parentImage`` per image (``id`` such as ``CXR2_IM-0652-1001``, which is also the image
file's stem). A CSV re-serialisation with the columns ``report_id, comparison, indication, findings, impression,
mesh_major, mesh_automatic, images`` (``|``-separated lists) is read too.

Each reader returns :class:`OpenIReport` records; :func:`openi_datalist` turns them into image + report datalist
items (one per image, ``patient_id`` = the report id, since Open-i publishes no patient identifiers).

Example::

    >>> reports = read_openi("NLMCXR_reports.tgz")           # or the ecgen-radiology/ folder, or reports.csv
    >>> items = openi_datalist(reports, image_dir="NLMCXR_png", section="findings")
"""

from __future__ import annotations

import csv
import os
import re
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raddino_monai.data.report_text import normalize_whitespace, select_section

__all__ = ["OpenIReport", "OPENI_CSV_COLUMNS", "parse_openi_xml", "read_openi", "openi_datalist"]

#: columns of the Open-i CSV form (lists are ``|``-separated)
OPENI_CSV_COLUMNS: tuple[str, ...] = (
    "report_id", "comparison", "indication", "findings", "impression", "mesh_major", "mesh_automatic", "images",
)  # fmt: skip
_SECTIONS = {"COMPARISON": "comparison", "INDICATION": "indication", "FINDINGS": "findings", "IMPRESSION": "impression"}


@dataclass
class OpenIReport:
    """One Open-i report.

    Attributes:
        report_id: e.g. ``"CXR2"`` (``uId`` of the XML).
        comparison, indication, findings, impression: section texts (``""`` when absent), whitespace normalised.
        mesh_major: human-assigned MeSH terms, e.g. ``["Cardiomegaly/borderline", "Pulmonary Artery/enlarged"]``
            (``["normal"]`` for a normal study).
        mesh_automatic: automatically assigned terms.
        images: image ids (file stems), e.g. ``["CXR2_IM-0652-1001", "CXR2_IM-0652-2001"]``.
    """

    report_id: str
    comparison: str = ""
    indication: str = ""
    findings: str = ""
    impression: str = ""
    mesh_major: list[str] = field(default_factory=list)
    mesh_automatic: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def text(self, section: str = "findings+impression", fallback: str | None = None) -> str:
        """Report text by :func:`raddino_monai.data.report_text.select_section` (``"full"`` = all four sections)."""
        sections = {"comparison": self.comparison, "indication": self.indication, "findings": self.findings,
                    "impression": self.impression}  # fmt: skip
        return select_section(sections, section, fallback)


def _id_number(report_id: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", report_id)
    return (int(digits) if digits else -1, report_id)


def parse_openi_xml(source: str | bytes | os.PathLike[str], name: str = "<xml>") -> OpenIReport:
    """Parse one Open-i report XML.

    Args:
        source: file path, or the XML content as ``bytes`` / ``str``.
        name: name used in error messages when ``source`` is content.

    Returns:
        the report.

    Raises:
        ValueError: the content is not XML, or it has no ``uId`` / ``pmcId`` (the message names the file).
    """
    where = str(source) if isinstance(source, os.PathLike) else name
    try:
        root = ET.parse(source).getroot() if isinstance(source, os.PathLike) else ET.fromstring(source)
    except ET.ParseError as err:
        raise ValueError(f"{where}: not a readable Open-i XML report ({err}).") from err
    uid = root.find("uId")
    pmc = root.find("pmcId")
    report_id = uid.get("id") if uid is not None else (f"CXR{pmc.get('id')}" if pmc is not None else None)
    if not report_id:
        raise ValueError(f"{where}: expected an Open-i report with <uId id='CXR...'/>, found root <{root.tag}>.")
    sections = {
        _SECTIONS[el.get("Label", "").upper()]: normalize_whitespace(el.text or "")
        for el in root.iter("AbstractText")
        if el.get("Label", "").upper() in _SECTIONS
    }
    mesh = root.find("MeSH")
    major = [normalize_whitespace(e.text or "") for e in (mesh.findall("major") if mesh is not None else [])]
    auto = [normalize_whitespace(e.text or "") for e in (mesh.findall("automatic") if mesh is not None else [])]
    images = [img.get("id", "") for img in root.findall("parentImage") if img.get("id")]
    return OpenIReport(report_id, **sections, mesh_major=[m for m in major if m],
                       mesh_automatic=[m for m in auto if m], images=images)  # fmt: skip


def _split_list(value: str | None) -> list[str]:
    return [normalize_whitespace(part) for part in (value or "").split("|") if part.strip()]


def _read_csv(path: Path) -> list[OpenIReport]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("report_id", "findings", "impression") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path}: expected the Open-i CSV columns {list(OPENI_CSV_COLUMNS)}; missing {missing}, found "
                f"{reader.fieldnames}."
            )
        return [
            OpenIReport(
                report_id=row["report_id"],
                **{k: normalize_whitespace(row.get(k) or "") for k in ("comparison", "indication", "findings",
                                                                        "impression")},
                mesh_major=_split_list(row.get("mesh_major")),
                mesh_automatic=_split_list(row.get("mesh_automatic")),
                images=_split_list(row.get("images")),
            )  # fmt: skip
            for row in reader
        ]


def _read_tar(path: Path) -> list[OpenIReport]:
    reports = []
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            if member.isfile() and member.name.lower().endswith(".xml"):
                handle = tar.extractfile(member)
                if handle is not None:
                    reports.append(parse_openi_xml(handle.read(), name=f"{path}:{member.name}"))
    return reports


def read_openi(path: str | os.PathLike[str]) -> list[OpenIReport]:
    """Read Open-i reports from a CSV, a folder of XML files, one XML file, or a ``.tgz`` / ``.tar.gz`` of XML files.

    Args:
        path: ``reports.csv``; ``ecgen-radiology/`` (searched recursively for ``*.xml``); ``3029.xml``;
            ``NLMCXR_reports.tgz``.

    Returns:
        reports ordered by the number in their id (``CXR1``, ``CXR2``, ...), CSV order kept for CSV input.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unsupported file type (valid types listed), an unreadable XML file or missing CSV columns (each
            message names the file).
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"read_openi: {source} does not exist.")
    name = source.name.lower()
    if source.is_dir():
        reports = [parse_openi_xml(p) for p in sorted(source.rglob("*.xml"))]
    elif name.endswith(".csv"):
        return _read_csv(source)
    elif name.endswith((".tgz", ".tar.gz", ".tar")):
        reports = _read_tar(source)
    elif name.endswith(".xml"):
        reports = [parse_openi_xml(source)]
    else:
        raise ValueError(f"{source}: unsupported Open-i source; expected a .csv, .xml, .tgz/.tar.gz or a folder.")
    return sorted(reports, key=lambda r: _id_number(r.report_id))


def openi_datalist(
    reports: Iterable[OpenIReport],
    image_dir: str | os.PathLike[str],
    suffix: str = ".png",
    section: str = "findings",
    fallback: str | None = None,
    require_image: bool = True,
) -> list[dict[str, Any]]:
    """Image + report datalist items from Open-i reports (one item per image).

    Args:
        reports: e.g. from :func:`read_openi`.
        image_dir: folder holding ``<image id><suffix>`` files (e.g. the NLMCXR PNG release).
        suffix: image file suffix.
        section: report text used (:func:`~raddino_monai.data.report_text.select_section`).
        fallback: section used when ``section`` is empty.
        require_image: leave out images whose file does not exist (``False``: keep every listed image).

    Returns:
        items with ``image`` (absolute path), ``report``, ``patient_id`` (= ``report_id``), ``report_id``,
        ``indication`` and ``mesh_major`` (``|``-joined); reports with empty text are left out.
    """
    folder = Path(image_dir).expanduser().resolve()
    items = []
    for report in reports:
        text = report.text(section, fallback)
        if not text:
            continue
        for image_id in report.images:
            image = folder / f"{image_id}{suffix}"
            if require_image and not image.is_file():
                continue
            items.append({
                "image": str(image), "report": text, "patient_id": report.report_id, "report_id": report.report_id,
                "indication": report.indication, "mesh_major": "|".join(report.mesh_major),
            })  # fmt: skip
    return items

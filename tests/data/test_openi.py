"""Open-i XML / CSV / .tgz parsing and image + report datalists (raddino_monai.data.openi), on hand-written XML."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import pytest

from raddino_monai.data.openi import OPENI_CSV_COLUMNS, parse_openi_xml, read_openi, openi_datalist

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
   <uId id="CXR{n}"/>
   <pmcId id="{n}"/>
   <MedlineCitation><Article><Abstract>
      <AbstractText Label="COMPARISON">None.</AbstractText>
      <AbstractText Label="INDICATION">Cough.</AbstractText>
      <AbstractText Label="FINDINGS">{findings}</AbstractText>
      <AbstractText Label="IMPRESSION">No acute   disease.</AbstractText>
   </Abstract></Article></MedlineCitation>
   <MeSH><major>Cardiomegaly/mild</major><major>Opacity/lung/base</major><automatic>cardiomegaly</automatic></MeSH>
   <parentImage id="CXR{n}_IM-0001-1001"><figureId>F1</figureId></parentImage>
   <parentImage id="CXR{n}_IM-0001-2001"><figureId>F2</figureId></parentImage>
</eCitation>
"""


def _xml(n: int, findings: str = "Mild cardiomegaly.") -> str:
    return XML.format(n=n, findings=findings)


def test_parse_xml() -> None:
    report = parse_openi_xml(_xml(7).encode())
    assert report.report_id == "CXR7" and report.findings == "Mild cardiomegaly."
    assert report.impression == "No acute disease." and report.indication == "Cough."
    assert report.mesh_major == ["Cardiomegaly/mild", "Opacity/lung/base"] and report.mesh_automatic == ["cardiomegaly"]
    assert report.images == ["CXR7_IM-0001-1001", "CXR7_IM-0001-2001"]
    assert report.text() == "Mild cardiomegaly. No acute disease."
    assert report.text("full") == "None. Cough. Mild cardiomegaly. No acute disease."
    empty = parse_openi_xml(_xml(8, findings="").encode())
    assert empty.text("findings") == "" and empty.text("findings", fallback="impression") == "No acute disease."


def test_bad_xml_names_the_file() -> None:
    with pytest.raises(ValueError, match="bad.xml"):
        parse_openi_xml(b"<eCitation><unclosed>", name="bad.xml")
    with pytest.raises(ValueError, match="uId"):
        parse_openi_xml(b"<root/>", name="x.xml")


def test_read_folder_tgz_and_csv_agree(tmp_path: Path) -> None:
    folder = tmp_path / "ecgen-radiology"
    folder.mkdir()
    for n in (10, 2, 1):
        (folder / f"{n}.xml").write_text(_xml(n))
    from_dir = read_openi(folder)
    assert [r.report_id for r in from_dir] == ["CXR1", "CXR2", "CXR10"]  # numeric order
    archive = tmp_path / "NLMCXR_reports.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="ecgen-radiology")
    assert read_openi(archive) == from_dir
    assert read_openi(folder / "2.xml") == [from_dir[1]]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(OPENI_CSV_COLUMNS)
    for r in from_dir:
        writer.writerow([r.report_id, r.comparison, r.indication, r.findings, r.impression, "|".join(r.mesh_major),
                         "|".join(r.mesh_automatic), "|".join(r.images)])
    (tmp_path / "reports.csv").write_text(out.getvalue())
    assert read_openi(tmp_path / "reports.csv") == from_dir


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_openi(tmp_path / "missing.csv")
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(ValueError, match="unsupported"):
        read_openi(tmp_path / "a.json")
    (tmp_path / "b.csv").write_text("id,text\n1,x\n")
    with pytest.raises(ValueError, match="missing"):
        read_openi(tmp_path / "b.csv")


def test_openi_datalist(tmp_path: Path) -> None:
    reports = [parse_openi_xml(_xml(3).encode()), parse_openi_xml(_xml(4, findings="").encode())]
    (tmp_path / "CXR3_IM-0001-1001.png").write_bytes(b"png")
    items = openi_datalist(reports, tmp_path, section="findings")
    assert len(items) == 1 and items[0]["image"] == str((tmp_path / "CXR3_IM-0001-1001.png").resolve())
    assert items[0]["report"] == "Mild cardiomegaly." and items[0]["patient_id"] == "CXR3"
    every = openi_datalist(reports, tmp_path, section="findings", fallback="impression", require_image=False)
    assert [i["report_id"] for i in every] == ["CXR3", "CXR3", "CXR4", "CXR4"]

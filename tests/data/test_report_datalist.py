"""Image + report datalists and report corpora (raddino_monai.data.report_datalist) on generated files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raddino_monai.data.datalist import DatalistError, validate_datalist
from raddino_monai.data.report_datalist import load_report_datalist, read_report_texts


def _images(folder: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        path = folder / f"img{i}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
        paths.append(path.name)
    return paths


def test_load_report_datalist_keeps_section_and_counts_skipped(tmp_path: Path) -> None:
    images = _images(tmp_path, 3)
    items = [
        {"image": images[0], "report": "FINDINGS: Mild cardiomegaly. IMPRESSION: Cardiomegaly.", "patient_id": "p1"},
        {"image": images[1], "report": "INDICATION: cough. IMPRESSION: Normal.", "patient_id": "p2"},
        {"image": images[2], "patient_id": "p3"},
    ]
    (tmp_path / "d.json").write_text(json.dumps({"training": items}))
    data = load_report_datalist(tmp_path / "d.json", split="training", section="findings")
    assert [i["report"] for i in data.items] == ["Mild cardiomegaly."]
    assert data.skipped == [f"item 1 ({tmp_path / images[1]}): no 'findings' text",
                            f"item 2 ({tmp_path / images[2]}): no report"]
    with_fallback = load_report_datalist(tmp_path / "d.json", section="findings", fallback="impression")
    assert [i["report"] for i in with_fallback.items] == ["Mild cardiomegaly.", "Normal."]


def test_report_must_be_text(tmp_path: Path) -> None:
    images = _images(tmp_path, 1)
    with pytest.raises(DatalistError, match="key 'report': expected a string, found int"):
        validate_datalist([{"image": str(tmp_path / images[0]), "report": 3}])
    (tmp_path / "d.json").write_text(json.dumps([{"image": images[0], "report": ["a"]}]))
    with pytest.raises(DatalistError, match="key 'report': expected a string, found list"):
        load_report_datalist(tmp_path / "d.json")


def test_read_report_texts_formats(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text('id,report\n1,"FINDINGS: A. IMPRESSION: B."\n2,\n3,Plain text.\n')
    assert read_report_texts(tmp_path / "r.csv") == ["A. B.", "Plain text."]
    assert read_report_texts(tmp_path / "r.csv", section="impression") == ["B.", "Plain text."]
    (tmp_path / "r.txt").write_text("One.\n\nTwo.\n")
    assert read_report_texts(tmp_path / "r.txt") == ["One.", "Two."]
    (tmp_path / "d.json").write_text(json.dumps([{"image": "a.png", "report": "X."}, {"image": "b.png"}]))
    assert read_report_texts(tmp_path / "d.json") == ["X."]
    (tmp_path / "openi.csv").write_text("report_id,findings,impression\nCXR1,F.,I.\n")
    assert read_report_texts(tmp_path / "openi.csv", section="findings") == ["F."]
    (tmp_path / "bad.csv").write_text("id,text\n1,x\n")
    with pytest.raises(DatalistError, match="'report' column"):
        read_report_texts(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError):
        read_report_texts(tmp_path / "none.csv")

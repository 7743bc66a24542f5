"""label_csv / evaluate_csv / validate_labeler: outputs, pairing by id, refusal to overwrite."""

from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path

import pytest

from raddino_monai.evaluation.report.evaluate import ReportMetricsConfig
from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS
from raddino_monai.evaluation.report.runners import evaluate_csv, label_csv, read_report_csv, validate_labeler


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_label_csv(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.csv", [{"id": "a", "report": "No pneumothorax. Possible pneumonia."},
                                       {"id": "b", "report": "Mild cardiomegaly."}, {"id": "c", "report": ""}])
    out = label_csv(src, tmp_path / "out.csv")
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["id", "report", *CHEXPERT_OBSERVATIONS]
    first = rows[0]
    assert (first["Pneumothorax"], first["Pneumonia"], first["Edema"], first["No Finding"]) == ("0", "-1", "", "")
    assert rows[1]["Cardiomegaly"] == "1" and all(rows[2][c] == "" for c in CHEXPERT_OBSERVATIONS)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        label_csv(src, out)
    with pytest.raises(ValueError, match="already has observation columns"):
        label_csv(out, tmp_path / "again.csv")
    _write(tmp_path / "bad.csv", [{"id": "a", "text": "x"}])
    with pytest.raises(ValueError, match=r"missing \['report'\]"):
        label_csv(tmp_path / "bad.csv", tmp_path / "bad_out.csv")


def test_read_report_csv_checks_ids(tmp_path: Path) -> None:
    _write(tmp_path / "dup.csv", [{"id": "a", "report": "x"}, {"id": "a", "report": "y"}])
    with pytest.raises(ValueError, match="repeated ids"):
        read_report_csv(tmp_path / "dup.csv")


def test_evaluate_csv(tmp_path: Path) -> None:
    pytest.importorskip("rouge_score")
    pytest.importorskip("sacrebleu")
    ref = _write(tmp_path / "ref.csv", [{"id": "1", "report": "No effusion."}, {"id": "2", "report": "Cardiomegaly."}])
    pred = _write(tmp_path / "pred.csv", [{"id": "2", "report": "Mild cardiomegaly."},
                                          {"id": "1", "report": "No effusion."}])
    result = evaluate_csv(pred, ref, tmp_path / "eval", ReportMetricsConfig(n_resamples=10))
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["n"] == 2
    assert saved["metrics"]["rouge_l"]["value"] == pytest.approx(result["metrics"]["rouge_l"]["value"])
    table = list(csv.DictReader((tmp_path / "eval" / "metrics.csv").read_text().splitlines()))
    assert {r["metric"] for r in table} >= {"rouge_l", "bleu4", "chexpert_rules/macro_f1_14", "chexbert/micro_f1_5"}
    per = list(csv.DictReader((tmp_path / "eval" / "per_report.csv").read_text().splitlines()))
    assert [r["id"] for r in per] == ["1", "2"] and float(per[0]["rouge_l"]) == pytest.approx(100.0)
    assert "| rouge_l |" in result["table"] and "unavailable" in result["table"]
    with pytest.raises(FileExistsError):
        evaluate_csv(pred, ref, tmp_path / "eval")
    _write(tmp_path / "short.csv", [{"id": "1", "report": "x"}])
    with pytest.raises(ValueError, match="same ids"):
        evaluate_csv(tmp_path / "short.csv", ref, tmp_path / "eval2")


def test_validate_labeler_on_a_tiny_openi_archive(tmp_path: Path) -> None:
    xml = ('<eCitation><uId id="CXR{n}"/><Abstract><AbstractText Label="FINDINGS">{text}</AbstractText></Abstract>'
           '<MeSH><major>{mesh}</major></MeSH></eCitation>')  # fmt: skip
    cases = [(1, "Mild cardiomegaly.", "Cardiomegaly/mild"), (2, "Heart size is normal.", "normal"),
             (3, "No effusion.", "normal")]  # fmt: skip
    folder = tmp_path / "ecgen-radiology"
    folder.mkdir()
    for n, text, mesh in cases:
        (folder / f"{n}.xml").write_text(xml.format(n=n, text=text, mesh=mesh))
    with tarfile.open(tmp_path / "reports.tgz", "w:gz") as tar:
        tar.add(folder, arcname="ecgen-radiology")
    result = validate_labeler(tmp_path / "reports.tgz", tmp_path / "val")
    rows = {r["observation"]: r for r in result["rows"]["uncertain_negative"]}
    assert rows["Cardiomegaly"]["f1"] == 100.0 and rows["No Finding"]["f1"] == 100.0
    assert result["n_reports"] == 3 and result["reports_per_s"] > 0
    assert (tmp_path / "val" / "agreement.csv").is_file() and "| Cardiomegaly | 1 | 1 |" in result["table"]

"""The evidence run on a tiny fake covid-chestxray copy: datalists, every variant, results and CSVs."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.models import create_backbone, export_hf_folder
from raddino_monai.report import read_reports
from raddino_monai.report.evidence import (
    ReportEvidenceConfig,
    covid_report_items,
    report_evidence,
    text_summary,
    write_split_datalists,
)

from .helpers import REPORTS


def _fake_root(tmp_path, n: int = 8):
    root = tmp_path / "covid"
    (root / "images").mkdir(parents=True)
    index, meta = [], []
    for i, src in enumerate(sorted((sample_data_dir() / "images").glob("*.png"))[:n]):
        shutil.copy(src, root / "images" / src.name)
        index.append({"filename": f"{src.stem}.jpg", "png": f"images/{src.name}", "patientid": str(i // 2),
                      "sex": "M", "view": "PA"})
        meta.append({"filename": f"{src.stem}.jpg", "clinical_notes": REPORTS[i % len(REPORTS)] if i else ""})
    for name, rows in (("images_index.csv", index), ("metadata.csv", meta)):
        with open(root / name, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return root


def test_items_and_datalists(tmp_path) -> None:
    items = covid_report_items(_fake_root(tmp_path))
    assert len(items) == 8 and items[0]["report"] is None and items[1]["report"] == REPORTS[1]
    paths = write_split_datalists(items, tmp_path / "dl", ReportEvidenceConfig(test_fraction=0.25))
    data = json.loads(paths["report"].read_text())
    train_patients = {i["patient_id"] for i in data["training"]}
    assert not train_patients & {i["patient_id"] for i in data["test"]}  # split by patient
    assert len(data["training"]) + len(data["test"]) == 7  # the image without notes is left out
    assert json.loads(paths["ssl"].read_text()) == {"training": data["training"]}
    with pytest.raises(FileNotFoundError, match="images_index.csv not found"):
        covid_report_items(tmp_path)


def test_report_evidence_runs_every_variant(lm_folders, tmp_path) -> None:
    items = covid_report_items(_fake_root(tmp_path))
    ssl = export_hf_folder(create_backbone("tiny_vit_p16"), tmp_path / "ssl_hf")
    config = ReportEvidenceConfig(lm=str(lm_folders("gpt2")), template="plain", image_size=32, model_max_length=96,
                                  epochs=1, global_batch_size=4, micro_batch_size=4, precision="fp32",
                                  max_new_tokens=5, test_fraction=0.25)
    results = report_evidence(items, tmp_path / "run", str(ssl), config)
    assert set(results["variants"]) == {"ssl", "random", "blank", "text_only"}
    refs = read_reports(tmp_path / "run" / "references.csv")
    assert len(refs) == results["n_test"] and results["n_train"] + results["n_test"] == 7
    for variant, record in results["variants"].items():
        rows = read_reports(tmp_path / "run" / variant / "predictions.csv")
        assert [r["id"] for r in rows] == [r["id"] for r in refs]
        assert record["heldout_token_loss"] > 0 and record["generated"]["n"] == len(refs)
        assert len(record["train_loss_curve"]) == (0 if variant == "text_only" else 2)
    blank = results["variants"]["blank"]["generated"]
    assert blank["distinct"] == 1  # no image information: one report for every test image
    again = report_evidence(items, tmp_path / "run", str(ssl), config, variants=["random"])  # reuses the model
    assert again["variants"]["random"]["heldout_token_loss"] == pytest.approx(
        results["variants"]["random"]["heldout_token_loss"], rel=1e-6)
    with pytest.raises(ValueError, match="'ssl' needs ssl_weights"):
        report_evidence(items, tmp_path / "x", None, config)


def test_text_summary() -> None:
    assert text_summary([{"report": "a b"}, {"report": "a b"}, {"report": "c"}]) == {
        "n": 3, "distinct": 2, "distinct_share": 2 / 3, "mean_words": 5 / 3}

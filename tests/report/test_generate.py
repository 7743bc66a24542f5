"""Report files: CSV / JSON round trip, generation to a file in id order, resume, settings check, no overwrite."""

from __future__ import annotations

import dataclasses
import json

import pytest

from raddino_monai.report import ReportGenerationConfig, generate_reports, read_reports, write_reports

from .helpers import build_model

ROWS = [{"id": "a.png", "report": 'No effusion, "clear" lungs.\nSecond line.'}, {"id": "b/c.png", "report": ""}]


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_write_read_round_trip(tmp_path, suffix) -> None:
    path = write_reports(tmp_path / f"reports{suffix}", ROWS)
    assert read_reports(path) == ROWS
    with pytest.raises(FileExistsError, match="nothing overwritten"):
        write_reports(path, ROWS)
    write_reports(path, ROWS[:1], overwrite=True)
    assert read_reports(path) == ROWS[:1]
    if suffix == ".csv":
        assert path.read_text().splitlines()[0] == "id,report"


def test_bad_paths_and_rows(tmp_path) -> None:
    with pytest.raises(ValueError, match="suffix must be one of \\['.csv', '.json'\\]"):
        write_reports(tmp_path / "r.txt", ROWS)
    (tmp_path / "bad.json").write_text(json.dumps([{"id": "x"}]))
    with pytest.raises(ValueError, match="row 0 lacks 'id' or 'report'"):
        read_reports(tmp_path / "bad.json")


def test_generate_reports_in_order_and_resume(lm_folders, features, tmp_path) -> None:
    model = build_model(lm_folders("gpt2"))
    feats = features(5, 4, 16)
    ids = [f"img{i}.png" for i in range(5)]
    config = ReportGenerationConfig(max_new_tokens=8, batch_size=2)
    out = generate_reports(model, ids, feats, tmp_path / "reports.csv", config, progress=False)
    rows = read_reports(out)
    assert [r["id"] for r in rows] == ids
    assert [r["report"] for r in rows] == model.generate(feats, config)
    assert not (tmp_path / "reports.csv.parts.jsonl").exists()
    # an interrupted run: the parts log holds the settings line and the first batch; resuming keeps that batch
    parts = tmp_path / "again.json.parts.jsonl"
    settings = {**dataclasses.asdict(config), "lm": model.lm_source, "mode": model.mode,
                "model": model.config.to_dict(), "n_ids": 5}
    kept = json.dumps({"id": "img0.png", "report": "kept"})
    parts.write_text(json.dumps({"settings": settings}) + "\n" + kept + "\n")
    again = read_reports(generate_reports(model, ids, feats, tmp_path / "again.json", config, progress=False))
    assert again[0]["report"] == "kept" and [r["report"] for r in again[1:]] == [r["report"] for r in rows[1:]]
    (tmp_path / "third.json.parts.jsonl").write_text(json.dumps({"settings": {**settings, "num_beams": 4}}) + "\n")
    with pytest.raises(ValueError, match="other settings \\(\\['num_beams'\\]\\)"):
        generate_reports(model, ids, feats, tmp_path / "third.json", config, progress=False)
    with pytest.raises(FileExistsError):
        generate_reports(model, ids, feats, out, config, progress=False)
    with pytest.raises(ValueError, match="4 feature rows for 5 ids"):
        generate_reports(model, ids, feats[:4], tmp_path / "x.csv", config, progress=False)


"""ssl_evidence on a tiny generated datalist: runs end to end and reports throughput and both probes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from raddino_monai.engines.evidence import format_evidence, probe_encoders, probe_items, ssl_evidence


def test_probe_items_and_grouped_probe() -> None:
    items = [{"view": "AP Supine", "sex": "F"}, {"view": "x", "sex": "M"}, {"view": "L", "sex": None}]
    assert [it["view_group"] for it in probe_items(items)] == ["AP", None, "LATERAL"]
    assert [it["sex"] for it in probe_items(items)] == ["F", "M", None]
    rng = np.random.default_rng(0)
    sex = np.repeat(["F", "M"], 40)
    x = rng.normal(size=(80, 4)) + (sex == "F")[:, None] * 3.0
    grouped = probe_items([{"sex": s, "view": "PA", "patient_id": i // 2} for i, s in enumerate(sex)])
    probes, skipped = probe_encoders({"enc": x, "noise": rng.normal(size=(80, 4))}, grouped)
    assert set(probes) == {"sex"} and "1 classes" in skipped["view"]
    assert probes["sex"]["enc"]["mean"] > 0.9 and probes["sex"]["enc"]["chance"] == 0.5
    assert probes["sex"]["enc"]["n_patients"] == 40 and len(probes["sex"]["noise"]["accuracy"]) == 5


@pytest.mark.slow
def test_ssl_evidence_runs(tmp_path) -> None:
    rng = np.random.default_rng(0)
    items = []
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (64, 56), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        view, sex = ["PA", "AP"][i % 2], "MF"[i % 3 % 2]
        items.append({"image": f"{i}.png", "patient_id": str(i // 2), "view": view, "sex": sex})
    (tmp_path / "datalist.json").write_text(json.dumps({"training": items}))
    results = ssl_evidence(tmp_path / "datalist.json", tmp_path / "out", max_iters=4, batch_size=8, num_workers=0)
    assert results["pretraining"]["iterations"] == 4 and results["pretraining"]["images_per_s"] > 0
    assert set(results["probes"]) == {"view", "sex"}
    assert (tmp_path / "out" / "results.png").is_file()
    assert (tmp_path / "out" / "teacher_hf" / "model.safetensors").is_file()
    assert "images/s" in format_evidence(results) and "sex probe" in format_evidence(results)

"""ssl_evidence on a tiny generated datalist: runs end to end and reports throughput and both probes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from raddino_monai.engines.evidence import probe_frozen, probe_targets, ssl_evidence


def test_probe_targets_and_grouped_probe() -> None:
    items = [{"view": "AP Supine", "sex": "F"}, {"view": "x", "sex": "M"}, {"view": "L", "sex": None}]
    keep, labels = probe_targets(items, "view")
    assert keep.tolist() == [0, 2] and labels.tolist() == ["AP", "lateral"]
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 40)
    x = rng.normal(size=(80, 4)) + (y == "a")[:, None] * 3.0
    result = probe_frozen(x, y, groups=np.arange(80) // 2)
    assert result["balanced_accuracy"] > 0.9 and result["chance"] == 0.5


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

"""tutorials/08_monai_label.py runs end to end in the serving environment and writes its answers and overlay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from label_cases import ROOT
from PIL import Image


def test_08_monai_label(tmp_path: Path) -> None:
    script = ROOT / "tutorials" / "08_monai_label.py"
    assert "tutorials/08_monai_label.py OUTPUT_DIR" in script.read_text().split("\n")[2]
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=900,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == str(out / "raddino_cxr_segmentation_overlay.png")
    assert "server stopped (exit code 0)" in lines
    scores = json.loads((out / "raddino_cxr_classification.json").read_text())["scores"]
    assert sorted(scores) == ["COVID-19", "No Finding", "Pneumocystis"]
    assert abs(sum(scores.values()) - 1) < 1e-5
    report = json.loads((out / "raddino_cxr_report.json").read_text())["report"]
    assert isinstance(report, str) and report.strip()
    assert json.loads((out / "info.json").read_text())["models"]["raddino_cxr_report"]["type"] == "others"
    with Image.open(out / "raddino_cxr_segmentation_mask.png") as mask:
        assert mask.size == (256, 204)  # the sample image's width x height
    with Image.open(out / "raddino_cxr_segmentation_overlay.png") as overlay:
        assert overlay.mode == "RGB" and overlay.size == (256, 204)
        assert np.asarray(overlay.convert("L")).std() > 10

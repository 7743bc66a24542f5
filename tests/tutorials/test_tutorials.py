"""The tutorials run end to end as scripts (in a fresh interpreter, as a user runs them) and write their PNGs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"


def _run(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run ``tutorials/<script>`` with this interpreter from the repository root; fails the test on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, str(TUTORIALS / script), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


def _assert_png(path: Path, min_size: int = 200) -> np.ndarray:
    """``path`` is a PNG of at least ``min_size`` px a side that is not blank; returns its pixels."""
    assert path.is_file(), path
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= min_size
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10, f"{path} looks blank"
    return pixels


def test_01_load_and_preprocess(tmp_path: Path) -> None:
    docstring_command = (TUTORIALS / "01_load_and_preprocess.py").read_text(encoding="utf-8").split("\n")[2]
    assert "tutorials/01_load_and_preprocess.py OUTPUT_DIR" in docstring_command  # docstring opens with the command
    result = _run("01_load_and_preprocess.py", str(tmp_path / "out"), "--size=112")
    _assert_png(tmp_path / "out" / "crop_vs_pad.png")
    lines = result.stdout.splitlines()
    assert lines[-1].strip() == str(tmp_path / "out" / "crop_vs_pad.png")
    dicom_lines = [line for line in lines if line.startswith("DICOM MONOCHROME")]
    assert len(dicom_lines) == 2 and all("modality='CR'" in line and "(0.168, 0.168)" in line for line in dicom_lines)
    assert any(line.startswith("sample PNG: shape (1, ") for line in lines)
    assert "within 0.00 grey levels" in result.stdout  # the MONOCHROME1 twin is the exact negative
    # the sample DICOMs' PatientName / PatientID (a random UUID) never reach the output
    assert "16d7f894-55d7-4d95-8957-d18987f0e981" not in result.stdout + result.stderr


def test_05_weights_and_embeddings(tmp_path: Path) -> None:
    docstring_command = (TUTORIALS / "05_weights_and_embeddings.py").read_text(encoding="utf-8").split("\n")[2]
    assert "tutorials/05_weights_and_embeddings.py OUTPUT_DIR" in docstring_command  # docstring opens with the command
    out = tmp_path / "out"
    result = _run("05_weights_and_embeddings.py", str(out), "--n_images=2")
    lines = result.stdout.splitlines()
    # plain transformers AutoModel and the DINOv2-named file reproduce the backbone exactly
    assert "3. AutoModel.from_pretrained -> Dinov2Model; max |difference| to ours: 0" in lines
    dinov2_line = next(line for line in lines if line.startswith("4. backbone_compatible.safetensors:"))
    assert "'blocks.0.attn.qkv.weight' in it: True" in dinov2_line
    assert dinov2_line.endswith("reloaded max |difference|: 0")
    cosine = float(next(line for line in lines if line.startswith("card_min_cosine:")).split()[-1])
    assert cosine > 0.999  # the stated tolerance vs the model-card path
    assert {p.name for p in (out / "hf").iterdir()} == {"config.json", "model.safetensors", "preprocessor_config.json"}
    with np.load(out / "embeddings.npz") as emb:
        assert emb["cls"].shape == (2, 192) and emb["patch"].shape == (2, 192, 8, 8) and len(emb["ids"]) == 2


def test_06_report_generation(tmp_path: Path) -> None:
    docstring_command = (TUTORIALS / "06_report_generation.py").read_text(encoding="utf-8").split("\n")[2]
    assert "tutorials/06_report_generation.py OUTPUT_DIR" in docstring_command  # docstring opens with the command
    out = tmp_path / "out"
    result = _run("06_report_generation.py", str(out), "--n_train=8", "--n_test=3", "--epochs=2")
    lines = result.stdout.splitlines()
    assert any(line.startswith("2. encoder tiny_vit_p14 at 56 px: 16 patch tokens of width 192") for line in lines)
    step5 = next(line for line in lines if line.startswith("5. "))
    assert "gives the same reports: True; KV cache off gives the same reports: True" in step5
    _assert_png(out / "report_generation.png")
    import csv

    with open(out / "reports.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and set(rows[0]) == {"id", "report"}
    assert (out / "run" / "model" / "report_config.json").is_file()


@pytest.mark.slow
def test_07_visualize(tmp_path: Path) -> None:
    docstring_command = (TUTORIALS / "07_visualize.py").read_text(encoding="utf-8").split("\n")[2]
    assert "tutorials/07_visualize.py OUTPUT_DIR" in docstring_command  # docstring opens with the command
    out = tmp_path / "out"
    result = _run("07_visualize.py", str(out), "--global_size=64", "--local_size=32", "--image_size=64",
                  "--map_size=32", "--seg_size=32", "--seg_epochs=1", timeout=900)  # patch 16: multiples of 16
    names = ["run_report.png", "pca.png", "attention.png", "patch_similarity.png", "embedding_map_pca.png",
             "embedding_map_tsne.png", "neighbours_teacher_hf.png", "segmentation_examples.png"]
    printed = [Path(line).name for line in result.stdout.splitlines() if line.endswith(".png")]
    assert printed == names  # fire prints the returned paths
    for name in names:
        _assert_png(out / name)
    assert (out / "ssl_run" / "teacher_hf" / "model.safetensors").is_file()


@pytest.mark.slow
def test_09_convirt(tmp_path: Path) -> None:
    docstring_command = (TUTORIALS / "09_convirt.py").read_text(encoding="utf-8").split("\n")[2]
    assert "tutorials/09_convirt.py OUTPUT_DIR" in docstring_command
    out = tmp_path / "out"
    result = _run("09_convirt.py", str(out), "--iterations=2", timeout=600)
    lines = result.stdout.splitlines()
    assert lines[-1].strip() == str(out / "convirt.png")
    assert any(line.startswith("1. recipe tiny: tau=0.1, lambda=0.75, lr=0.0001") for line in lines)
    assert any(line.startswith("2. exported image encoder:") and "model.safetensors" in line for line in lines)
    assert any(line.startswith("3. image->image Precision@k") for line in lines)
    assert any(line.startswith("4. projected embeddings") and "text_to_image: @1" in line and "image_to_text" in line
               for line in lines)
    assert (out / "run" / "image_encoder_hf" / "config.json").is_file()
    assert (out / "text_retrieval" / "results.csv").is_file()
    _assert_png(out / "convirt.png")

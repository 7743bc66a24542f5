"""Tests for raddino_monai.data.prepare and tools/prepare_images.py (model-card offline preparation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import json

from raddino_monai.data.prepare import PreparationError, is_valid_prepared, prepare_image, prepare_images
from raddino_monai.data.synthetic import FAKE_IDENTIFIERS, make_synthetic_cxr, write_synthetic_dicom

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    image = make_synthetic_cxr((60, 40), seed=0)[0]
    write_synthetic_dicom(src / "sub" / "IM0001", image=image, bits_stored=12, photometric="MONOCHROME1")
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(src / "b.png")
    (src / "notes.txt").write_text("not an image")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return src


def test_prepare_image_short_side_and_full_range(tmp_path):
    image = make_synthetic_cxr((60, 40), seed=1)[0]
    dicom = write_synthetic_dicom(tmp_path / "a.dcm", image=image, bits_stored=15, photometric="MONOCHROME1")
    out = np.asarray(Image.open(prepare_image(dicom, tmp_path / "a.png", size=28)))
    assert out.dtype == np.uint8 and out.shape == (42, 28)  # short side 28, aspect kept
    assert out.min() == 0 and out.max() == 255  # min-max to [0, 255]
    # MONOCHROME1 was inverted: the output correlates positively with the displayed image
    small = np.asarray(Image.fromarray(image).resize((28, 42)))
    assert np.corrcoef(small.ravel(), out.ravel())[0, 1] > 0.9


def test_prepare_images_resume_failures_and_no_identifiers(source_dir, tmp_path):
    dst = tmp_path / "dst"
    with pytest.raises(PreparationError, match=r"(?s)1 input\(s\) failed \(2 written.*broken\.png.*skip_failed") as info:
        prepare_images(source_dir, dst, size=20, workers=2)  # process pool; the failure is raised after the rest
    report = info.value.report
    saved = json.loads((dst / "config.json").read_text())  # resolved settings + the report, like every tool
    assert saved["size"] == 20 and saved["skip_failed"] is False and saved["report"]["written"] == 2
    assert report["written"] == 2 and report["skipped"] == 0
    assert [Path(p).name for p, _ in report["failed"]] == ["broken.png"]
    outputs = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.png"))
    assert outputs == ["b.png", "sub/IM0001.png"]
    assert all(is_valid_prepared(dst / p, 20) for p in outputs)
    blob = b"".join((dst / p).read_bytes() for p in outputs) + repr(report).encode()
    assert not [v for v in FAKE_IDENTIFIERS.values() if v.encode() in blob]  # not in outputs, not in the report
    (dst / "b.png").write_bytes((dst / "b.png").read_bytes()[:40])  # truncated output is redone on resume
    again = prepare_images(source_dir, dst, size=20, workers=1, skip_failed=True)
    assert again["written"] == 1 and again["skipped"] == 1 and len(again["failed"]) == 1


def test_output_name_clash_is_reported_not_overwritten(tmp_path):
    image = make_synthetic_cxr((40, 30), seed=2)[0]
    src = tmp_path / "src"
    src.mkdir()
    write_synthetic_dicom(src / "a.dcm", image=image)
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(src / "a.png")
    report = prepare_images(src, tmp_path / "dst", size=16, workers=1, skip_failed=True)
    assert report["written"] == 1 and [Path(p).name for p, _ in report["failed"]] == ["a.png"]
    assert "a.dcm" in report["failed"][0][1] and "already written" in report["failed"][0][1]


@pytest.mark.slow
def test_cli(source_dir, tmp_path):
    """The fire CLI end to end in a fresh interpreter (~15 s of imports on a loaded 2-core machine)."""
    dst = tmp_path / "cli"
    cmd = [sys.executable, str(ROOT / "tools" / "prepare_images.py"), "--src", str(source_dir), "--dst", str(dst),
           "--size", "16", "--workers", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 1 and "broken.png" in result.stderr  # a failed input is not a success
    assert is_valid_prepared(dst / "b.png", 16) and is_valid_prepared(dst / "sub" / "IM0001.png", 16)
    assert json.loads((dst / "config.json").read_text())["report"]["failed"][0][0].endswith("broken.png")
    result = subprocess.run([*cmd, "--skip_failed"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_uid_names_keep_the_whole_uid(tmp_path):
    src = tmp_path / "src"
    image = make_synthetic_cxr((40, 30), seed=3)[0]
    for folder in ("a", "b"):  # equal UID names in two folders
        (src / folder).mkdir(parents=True)
        write_synthetic_dicom(src / folder / "1.2.826.0.1.3680043.8.498.1.dcm", image=image)
    write_synthetic_dicom(src / "1.2.826.0.1.3680043.8.498.2", image=image)  # no suffix
    prepare_images(src, tmp_path / "dst", size=16, workers=1)
    outputs = sorted(p.relative_to(tmp_path / "dst").as_posix() for p in (tmp_path / "dst").rglob("*.png"))
    assert outputs == ["1.2.826.0.1.3680043.8.498.2.png", "a/1.2.826.0.1.3680043.8.498.1.png",
                       "b/1.2.826.0.1.3680043.8.498.1.png"]

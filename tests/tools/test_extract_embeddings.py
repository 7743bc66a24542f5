from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.inference import load_embeddings
from raddino_monai.models import create_backbone, export_hf_folder

TOOL = Path(__file__).resolve().parents[2] / "tools" / "extract_embeddings.py"


def test_cli_extracts_from_hf_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = export_hf_folder(create_backbone("tiny_vit_p16"), tmp_path / "hf")
    images = tmp_path / "imgs"
    images.mkdir()
    for src in sorted((sample_data_dir() / "images").glob("*.png"))[:3]:
        (images / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "emb.safetensors"
    argv = [str(images), str(out), "--weights", str(folder), "--arch", "tiny_vit_p16", "--batch_size", "2",
            "--pooling", "cls,patch", "--progress", "False"]
    monkeypatch.setattr(sys, "argv", [str(TOOL), *argv])
    runpy.run_path(str(TOOL), run_name="__main__")
    emb = load_embeddings(out)
    assert emb["ids"] == sorted(p.name for p in images.iterdir())
    assert emb["cls"].shape == (3, 192) and emb["patch"].shape == (3, 192, 7, 7)
    assert emb["meta"]["weights"] == str(folder) and emb["meta"]["arch"] == "tiny_vit_p16"

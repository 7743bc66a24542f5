"""``tools/report.py train`` and ``generate`` end to end on sample images (tiny encoder, tiny random-init GPT-2)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
import torch

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.report import read_report_config, read_reports

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "report.py"
sys.path.insert(0, str(ROOT / "tests"))
from report.helpers import REPORTS, make_lm_folder  # noqa: E402


def _cli(monkeypatch: pytest.MonkeyPatch, *argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setattr(sys, "argv", [str(TOOL), *argv])
    runpy.run_path(str(TOOL), run_name="__main__")
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_train_and_generate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster on a busy machine
    try:
        _train_and_generate(tmp_path, monkeypatch, capsys)
    finally:
        torch.set_num_threads(threads)


def _train_and_generate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    images = sorted((sample_data_dir() / "images").glob("*.png"))[:4]
    items = [{"image": str(p), "id": p.stem, "report": REPORTS[i]} for i, p in enumerate(images)]
    (tmp_path / "d.json").write_text(json.dumps({"training": items[:3], "test": items[3:]}))
    lm = make_lm_folder(tmp_path / "lm", "llama")
    printed = _cli(monkeypatch, "train", "--datalist", str(tmp_path / "d.json"), "--lm", str(lm), "--output_dir",
                   str(tmp_path / "run"), "--encoder_arch", "tiny_vit_p14", "--encoder_image_size", "28",
                   "--mode", "lora", "--lora_r", "4", "--lora_alpha", "8", "--epochs", "1", "--global_batch_size", "3",
                   "--micro_batch_size", "2", "--precision", "fp32", "--template", "plain", "--model_max_length", "96",
                   capsys=capsys)
    assert printed == str(tmp_path / "run" / "model")
    assert read_report_config(printed)["mode"] == "lora"
    out = _cli(monkeypatch, "generate", "--model_dir", printed, "--inputs", str(tmp_path / "d.json"), "--out_path",
               str(tmp_path / "pred.json"), "--split", "test", "--max_new_tokens", "5", "--num_beams", "2",
               capsys=capsys)
    assert [r["id"] for r in read_reports(out)] == [images[3].stem]
    with pytest.raises(SystemExit):  # the options are the config fields (options_signature): fire rejects the rest
        _cli(monkeypatch, "generate", "--model_dir", printed, "--inputs", str(tmp_path / "d.json"), "--out_path",
             str(tmp_path / "x.csv"), "--beams", "2", capsys=capsys)
    assert "Could not consume arg: --beams" in capsys.readouterr().err

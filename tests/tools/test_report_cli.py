"""tools/report.py: every subcommand through fire in-process, and label / evaluate / build_lm in a fresh interpreter."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import fire
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
REPORTS = [("1", "No pneumothorax. Possible pneumonia."), ("2", "Mild cardiomegaly. No effusion."),
           ("3", "The lungs are clear. Heart size is normal."), ("4", "Small left pleural effusion.")] * 3  # fmt: skip
TINY_MODEL = "{'hidden_size': 32, 'num_layers': 1, 'num_heads': 2, 'intermediate_size': 64, " \
             "'max_position_embeddings': 64}"
TINY_TRAIN = "{'epochs': 1, 'batch_size': 4, 'max_length': 24, 'warmup_steps': 1}"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tools_report", ROOT / "tools" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "report"])
        writer.writerows((f"{i}-{k}", text) for k, (i, text) in enumerate(rows))
    return path


@pytest.mark.parametrize("command", ["build_lm", "build_bert", "label", "evaluate", "validate_labeler"])
def test_help(command: str, capsys: pytest.CaptureFixture) -> None:
    tool = _tool()
    assert "python tools/report.py" in tool.__doc__ and set(tool.COMMANDS) >= {"build_lm", "label", "evaluate"}
    with pytest.raises(fire.core.FireExit) as exit_info:
        fire.Fire(tool.COMMANDS, command=[command, "--help"])
    assert exit_info.value.code == 0
    assert "--" in "".join(capsys.readouterr())


def test_label_and_evaluate_in_process(tmp_path: Path) -> None:
    pytest.importorskip("rouge_score")
    tool = _tool()
    refs = _csv(tmp_path / "ref.csv", REPORTS)
    assert fire.Fire(tool.COMMANDS, command=["label", str(refs), str(tmp_path / "labels.csv")]).startswith("wrote")
    assert list(csv.DictReader((tmp_path / "labels.csv").read_text().splitlines()))[0]["Pneumonia"] == "-1"
    out = fire.Fire(tool.COMMANDS, command=["evaluate", str(refs), str(refs), "--output_dir", str(tmp_path / "ev"),
                                            "--n_resamples", "20"])  # fmt: skip
    assert "| rouge_l | 100.00 |" in out and "chexbert/macro_f1_14 | unavailable" in out
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["config"]["n_resamples"] == 20


def test_build_lm_in_process(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reports = _csv(tmp_path / "reports.csv", REPORTS)
        out = fire.Fire(_tool().COMMANDS, command=["build_lm", str(reports), str(tmp_path / "lm"), "--tokenizer",
                                                   "{'vocab_size': 300}", "--model", TINY_MODEL, "--train", TINY_TRAIN])
    finally:
        torch.set_num_threads(threads)
    assert out.startswith("built") and (tmp_path / "lm" / "config.json").is_file()
    with pytest.raises(ValueError, match=r"Unknown PretrainConfig field\(s\) \[.epoch.\]"):
        fire.Fire(_tool().COMMANDS, command=["build_lm", str(reports), str(tmp_path / "lm2"), "--train",
                                             "{'epoch': 1}"])  # fmt: skip


@pytest.mark.slow
def test_cli_subprocess(tmp_path: Path) -> None:
    """label, evaluate and build_bert end to end in fresh interpreters (~15 s of imports each on 2 loaded cores)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    refs = _csv(tmp_path / "ref.csv", REPORTS)
    preds = _csv(tmp_path / "pred.csv", [(i, "No effusion.") for i, _ in REPORTS])
    commands = [
        ["label", str(refs), str(tmp_path / "labels.csv")],
        ["evaluate", str(preds), str(refs), "--output_dir", str(tmp_path / "ev"), "--n_resamples", "20"],
        ["build_bert", str(refs), str(tmp_path / "bert"), "--tokenizer", "{'vocab_size': 200}", "--model", TINY_MODEL,
         "--train", TINY_TRAIN],
    ]  # fmt: skip
    for args in commands:
        result = subprocess.run([sys.executable, str(ROOT / "tools" / "report.py"), *args], capture_output=True,
                                text=True, timeout=300, cwd=tmp_path, env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "labels.csv").is_file() and (tmp_path / "ev" / "per_report.csv").is_file()
    assert (tmp_path / "bert" / "vocab.txt").is_file() and (tmp_path / "bert" / "config.json").is_file()
    again = subprocess.run([sys.executable, str(ROOT / "tools" / "report.py"), *commands[0]], capture_output=True,
                           text=True, timeout=300, cwd=tmp_path, env=env)  # fmt: skip
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr

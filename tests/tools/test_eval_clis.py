"""In-process smoke tests of the evaluation CLIs: tools/linear_probe.py, metadata_probe.py, segment.py, evaluate.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import fire
import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"tools_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _component(name: str) -> object:
    module = _tool(name)
    return {"train": module.train, "evaluate": module.evaluate, "predict": module.predict} if name == "segment" \
        else module.main


@pytest.mark.parametrize("name,command", [("linear_probe", []), ("metadata_probe", []), ("evaluate", []),
                                          ("segment", ["train"]), ("segment", ["predict"])])
def test_help(name: str, command: list[str], capsys: pytest.CaptureFixture) -> None:
    assert _tool(name).__doc__.lstrip().splitlines()[0]
    assert "python tools/" in _tool(name).__doc__
    with pytest.raises(fire.core.FireExit) as exit_info:
        fire.Fire(_component(name), command=[*command, "--help"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert "--" in captured.out + captured.err


def test_linear_probe_tiny_run(tmp_path: Path) -> None:
    args = ["--encoder", "tiny_vit_p14", "--output_dir", str(tmp_path), "--task", "multiclass", "--image_size", "28",
            "--epochs", "1", "--seeds", "[0]", "--label_fractions", "[1.0]", "--augment", "False", "--batch_size", "32"]
    table = fire.Fire(_tool("linear_probe").main, command=args)
    assert table.startswith("| encoder |") and "tiny_vit_p14" in table
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["epochs"] == 1 and config["augment"] is False and config["base_lr"] == 5e-5
    assert config["task"] == "multiclass" and config["n_last_blocks"] == 4  # the rest: LinearProbeConfig defaults
    with pytest.raises(ValueError, match="Unknown LinearProbeConfig option.*valid options are"):
        _tool("linear_probe").main("tiny_vit_p14", output_dir=str(tmp_path), epoch=1)
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "runs.csv").is_file() and (tmp_path / "tb").is_dir()


def test_segment_and_suite_tiny_runs(tmp_path: Path) -> None:
    seg = _tool("segment")
    fire.Fire(seg.train, command=["--encoder", "tiny_vit_p14", "--output_dir", str(tmp_path / "seg"), "--head",
                                  "linear", "--image_size", "28", "--epochs", "1", "--batch_size", "64",
                                  "--augment", "False"])
    ckpt = tmp_path / "seg" / "model.pt"
    assert ckpt.is_file() and (tmp_path / "seg" / "per_image_dice.csv").is_file()
    image = str(next((Path(__file__).resolve().parents[2] / "raddino_monai/sample_data/images").glob("*.png")))
    written = fire.Fire(seg.predict, command=["--checkpoint", str(ckpt), "--images", f"['{image}']",
                                              "--output_dir", str(tmp_path / "pred")])
    assert Path(written[0]["overlay"]).is_file() and Path(written[0]["mask"]).suffix == ".png"
    table = fire.Fire(_tool("evaluate").main, command=[
        "--encoders", "['tiny_vit_p14']", "--tasks", "['metadata_probe']", "--output_dir", str(tmp_path / "suite"),
        "--metadata_probe", "{'attributes': ['sex'], 'image_size': 28}"])
    assert "metadata_probe / sex / accuracy" in table

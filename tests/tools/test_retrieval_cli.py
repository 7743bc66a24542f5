"""tools/retrieval.py: help text and a tiny in-process run on the embedded sample data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import fire
import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "retrieval.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tools_retrieval", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help(capsys: pytest.CaptureFixture) -> None:
    module = _tool()
    assert "python tools/retrieval.py" in module.__doc__
    with pytest.raises(fire.core.FireExit) as exit_info:
        fire.Fire(module.main, command=["--help"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert "--convirt_dir" in captured.out + captured.err


def test_sample_data_leave_one_out(tmp_path: Path) -> None:
    table = fire.Fire(_tool().main, command=["--encoder", "tiny_vit_p14", "--output_dir", str(tmp_path),
                                             "--image_size", "28", "--batch_size", "50", "--ks", "[1,10]"])
    assert table.startswith("| encoder |") and "image_to_image / precision@10" in table
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["leave_one_out"] is True and config["n_queries"] == config["n_candidates"] == 100
    assert config["ks"] == [1, 10] and config["exclude_same_patient"] is True
    assert len((tmp_path / "per_query.csv").read_text().splitlines()) == 101

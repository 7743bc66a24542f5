"""GPU check: fails fast with a clear message without CUDA (library and script), table formatting, error rows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from raddino_monai.benchmarks.gpu_check import _row, failed, format_table, require_cuda

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.sh"
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="tests the path without CUDA")


@no_cuda
def test_require_cuda_names_the_problem() -> None:
    with pytest.raises(RuntimeError, match="needs a CUDA GPU.*torch.cuda.is_available"):
        require_cuda()


def test_rows_and_table() -> None:
    def boom() -> str:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    rows = [_row("fine", lambda: "3 img/s"), _row("broken", boom)]
    assert [r["status"] for r in rows] == ["ok", "FAIL"] and "OutOfMemoryError" in rows[1]["detail"]
    table = format_table(rows)
    assert table.splitlines()[0].startswith("check") and "3 img/s" in table and failed(rows) == 1


def test_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    assert os.access(SCRIPT, os.X_OK)


@no_cuda
def test_script_fails_fast_without_cuda() -> None:
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no CUDA GPU" in done.stderr and "PYTHON=" in done.stderr
    missing = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHON": "/nonexistent/python"})
    assert missing.returncode == 2 and "not-importable" in missing.stderr

"""tools/benchmark_ssl.py runs end to end for the tiny setup (as ``__main__``, as the shell does)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "benchmark_ssl.py"


def test_step_command_prints_split_and_peak_fraction(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", [str(TOOL), "step", "--setup", "tiny", "--batch_size", "2", "--steps", "1",
                                      "--precisions", "[fp32]"])
    runpy.run_path(str(TOOL), run_name="__main__")
    out = capsys.readouterr().out
    assert "tiny fp32 batch 2:" in out and "of the fp32 GEMM peak" in out and "teacher_forward" in out

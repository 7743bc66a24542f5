"""Every ``tools/*.py`` answers ``--help`` with its usage and exit status 0 (run as ``__main__``, as the shell does)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

TOOLS = sorted((Path(__file__).resolve().parents[2] / "tools").glob("*.py"))


def test_every_tool_is_listed() -> None:
    assert len(TOOLS) >= 11 and {"ssl_evidence.py", "prepare_images.py", "segment.py"} <= {t.name for t in TOOLS}


@pytest.mark.parametrize("tool", TOOLS, ids=[t.stem for t in TOOLS])
def test_help_exits_zero(tool: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", [str(tool), "--help"])
    monkeypatch.setenv("PAGER", "cat")  # fire pages long help text through $PAGER when attached to a terminal
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(tool), run_name="__main__")
    out = capsys.readouterr()
    assert info.value.code in (0, None), out.err[-2000:]
    assert "SYNOPSIS" in out.out + out.err

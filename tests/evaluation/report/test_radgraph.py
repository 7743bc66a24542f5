"""RadGraph adapter: folder checks, the unavailable path, and the glue to the radgraph package (stand-in module)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from raddino_monai.evaluation.report.radgraph import RadGraphF1, RadGraphUnavailable, check_radgraph_folder


def test_folder_checks(tmp_path: Path, radgraph_folder: Path) -> None:
    assert check_radgraph_folder(radgraph_folder) == radgraph_folder.resolve()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_radgraph_folder(tmp_path / "none")
    (radgraph_folder / "weights.th").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks \['weights.th'\]"):
        check_radgraph_folder(radgraph_folder)


def test_unavailable_without_the_package(radgraph_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "radgraph", None)  # import radgraph -> ImportError
    with pytest.raises(RadGraphUnavailable, match="radgraph package is not installed"):
        RadGraphF1(radgraph_folder)


def test_drives_the_package_without_download(radgraph_folder: Path, fake_radgraph: dict[str, Any]) -> None:
    scorer = RadGraphF1(radgraph_folder, model_type="radgraph-xl")
    assert fake_radgraph["model_dir"] == radgraph_folder.resolve()  # <cache>/<model_type> is the user's folder
    assert fake_radgraph["reward_level"] == "all" and fake_radgraph["cuda"] == -1
    assert scorer.embedder == "microsoft/BiomedVLP-CXR-BERT-general"
    rewards = scorer(["no effusion", "mild cardiomegaly"], ["no pleural effusion", "normal heart"])
    np.testing.assert_allclose(rewards, [[2 / 3, 1 / 3, 1 / 6], [0, 0, 0]])
    with pytest.raises(ValueError, match="one reference per prediction"):
        scorer(["a"], [])
    with pytest.raises(ValueError, match="valid values"):
        RadGraphF1(radgraph_folder, model_type="radgraph-2")

"""Fixtures for the report-metric tests: a tiny fake CheXbert checkpoint and a stand-in ``radgraph`` package."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from report_fakes import write_fake_chexbert


@pytest.fixture
def fake_chexbert(tmp_path: Path) -> tuple[Path, Path]:
    return write_fake_chexbert(tmp_path / "chexbert")


@pytest.fixture
def radgraph_folder(tmp_path: Path) -> Path:
    """An extracted-archive layout: config.json, weights.th, vocabulary/."""
    folder = tmp_path / "my-radgraph"
    (folder / "vocabulary").mkdir(parents=True)
    (folder / "config.json").write_text('{"model": {"embedder": {"token_embedders": {"bert": {"model_name": '
                                        '"microsoft/BiomedVLP-CXR-BERT-general"}}}}}')  # fmt: skip
    torch.save({}, folder / "weights.th")
    return folder


@pytest.fixture
def fake_radgraph(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand-in ``radgraph`` module: records how F1RadGraph is built; rewards = word overlap per pair."""
    calls: dict[str, Any] = {}

    class F1RadGraph:
        def __init__(self, reward_level: str, model_type: str, model_cache_dir: str, cuda: int) -> None:
            calls.update(reward_level=reward_level, model_type=model_type, cuda=cuda,
                         model_dir=(Path(model_cache_dir) / model_type).resolve())  # fmt: skip
            assert (Path(model_cache_dir) / model_type / "config.json").is_file()  # radgraph would not download

        def __call__(self, refs: list[str], hyps: list[str]) -> tuple:
            overlap = [len(set(r.split()) & set(h.split())) / max(len(set(r.split())), 1) for r, h in zip(refs, hyps)]
            rewards = (overlap, [v / 2 for v in overlap], [v / 4 for v in overlap])
            return tuple(float(np.mean(r)) for r in rewards), rewards, [], []

    module = types.ModuleType("radgraph")
    module.F1RadGraph = F1RadGraph  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "radgraph", module)
    return calls

"""Cost grid (time and memory per size and batch) and its PNG."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from raddino_monai.benchmarks.cost import cost_grid, plot_cost


def test_cost_grid_grows_with_size_and_plots(tmp_path: Path) -> None:
    rows = cost_grid("tiny", sizes=(32, 64), batches=(1, 2), precision="fp32")
    assert [(r["size"], r["batch"]) for r in rows] == [(32, 1), (32, 2), (64, 1), (64, 2)]
    act = {(r["size"], r["batch"]): r["activation_bytes"] for r in rows}
    assert act[(64, 1)] > act[(32, 1)] and act[(32, 2)] > act[(32, 1)]  # activations grow with tokens and batch
    assert len({r["state_bytes"] for r in rows}) == 1
    path = plot_cost(rows, tmp_path / "cost.png")
    assert Image.open(path).size[0] > 500
    with pytest.raises(ValueError, match="multiple of the patch size"):
        cost_grid("tiny", sizes=(30,), batches=(1,))

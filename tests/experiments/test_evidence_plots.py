"""The comparison figure: one panel per metric (own scale) in a grid; a method without values gets no bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from raddino_monai.experiments.evidence_plots import plot_comparison


def _row(name: str, values: dict[str, list[float]]) -> dict:
    return {"row": name, **{m: {"mean": float(np.mean(v)) if v else float("nan"),
                                "std": float(np.std(v)) if v else float("nan"), "per_seed": v}
                            for m, v in values.items()}}


def test_one_panel_per_metric_in_a_grid_with_a_missing_method(tmp_path: Path) -> None:
    rows = [_row("probe / auroc", {"a": [0.6, 0.7], "b": [0.5, 0.55]}),
            _row("report / rouge_l", {"a": [8.0, 9.0], "b": [6.0, 7.0]}),  # percent: would be clipped at 1
            _row("retrieval / text_to_image", {"a": [], "b": [0.4, 0.5]})]
    one = tmp_path / "one.png"
    plot_comparison(rows, ["a", "b"], one, columns=4)
    grid = tmp_path / "grid.png"
    plot_comparison(rows, ["a", "b"], grid, columns=2)
    w1, h1 = Image.open(one).size
    w2, h2 = Image.open(grid).size
    assert w1 > w2 and h2 > h1  # 1 x 3 panels vs 2 x 2

"""Paired summaries of the pretraining comparison against a hand computation."""

from __future__ import annotations

import math

import pytest

from raddino_monai.experiments.compare_summary import budget_table, markdown_summary, summarise_methods


def _records() -> list[dict]:
    values = {"ssl": [0.8, 0.7, 0.9], "random": [0.6, 0.75, 0.5], "convirt": [0.7, math.nan, 0.8]}
    return [{"method": m, "seed": s, "task": "linear_probe", "setting": "label", "metric": "auroc", "value": v}
            for m, vs in values.items() for s, v in enumerate(vs)]


def test_paired_differences_wins_and_sign_test() -> None:
    (row,) = summarise_methods(_records(), ["ssl", "random", "convirt"], [0, 1, 2], "ssl")
    assert row["ssl"]["mean"] == pytest.approx(0.8) and row["ssl"]["std"] == pytest.approx(0.1)
    paired = row["paired"]["random"]
    assert paired["diff_per_seed"] == pytest.approx([0.2, -0.05, 0.4])
    assert paired["diff_mean"] == pytest.approx(0.55 / 3) and paired["wins"] == 2
    assert paired["sign_p"] == pytest.approx(4 / 8)  # P(X >= 2), X ~ Bin(3, 1/2)
    assert row["paired"]["convirt"]["n"] == 2 and row["paired"]["convirt"]["wins"] == 2  # the NaN seed is left out
    assert row["convirt"]["mean"] == pytest.approx(0.75)
    assert "ssl" not in row["paired"]


def test_markdown_and_errors() -> None:
    rows = summarise_methods(_records(), ["ssl", "random", "convirt"], [0, 1, 2], "ssl")
    text = markdown_summary(rows, ["ssl", "random", "convirt"], "ssl")
    assert "| evaluation | ssl | random | convirt | ssl − random (paired) | ssl − convirt (paired) |" in text
    assert "+0.183 ± 0.225 (ahead 2/3, p = 0.5)" in text
    with pytest.raises(ValueError, match=r"valid values are \['random'\]"):
        summarise_methods(_records(), ["random"], [0], "ssl")
    table = budget_table({"ssl": {0: {"iterations": 10.0, "images_seen": 80.0, "seconds": 60.0}}},
                         {"steps": 10, "batch_size": 8})
    assert "| ssl | 0 | 10 × 8 | 10 | 80 | 1.0 | – |" in table

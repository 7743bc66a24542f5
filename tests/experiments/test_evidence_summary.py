"""Per-seed summaries and the paired seed aggregate of the SSL evidence tool, on hand-made results."""

from __future__ import annotations

import numpy as np
import pytest

from raddino_monai.experiments.evidence_summary import combine_seeds, format_combined, sign_test_p


def _fake_run(view: tuple[float, float], sex: tuple[float, float], images_per_s: float) -> dict:
    def probe(pre: float, rand: float) -> dict:
        return {"pretrained": {"mean": pre, "auroc_mean": 1 - pre, "chance": 0.5},
                "random_init": {"mean": rand, "auroc_mean": 1 - rand, "chance": 0.5}}

    return {"pretraining": {"images_per_s": images_per_s, "data_wait_share": 0.02},
            "probes": {"view": probe(*view), "sex": probe(*sex)}}


def test_sign_test_p() -> None:
    assert sign_test_p(0, 4) == 1.0 and sign_test_p(4, 4) == 1 / 16 and sign_test_p(3, 4) == 5 / 16
    assert sign_test_p(6, 7) == pytest.approx(8 / 128)
    with pytest.raises(ValueError, match="wins=5, n=4"):
        sign_test_p(5, 4)


def test_combine_seeds() -> None:
    runs = [_fake_run((0.7, 0.6), (0.5, 0.6), 10.0), _fake_run((0.8, 0.6), (0.6, 0.5), 30.0),
            _fake_run((0.75, 0.65), (0.55, 0.5), 20.0)]
    combined = combine_seeds(runs)
    assert combined["n_seeds"] == 3 and combined["images_per_s"] == 20.0
    assert combined["probes"]["view"]["pretrained"]["per_seed"] == [0.7, 0.8, 0.75]
    assert combined["probes"]["view"]["pretrained"]["mean"] == pytest.approx(0.75)
    assert combined["probes"]["view"]["random_init"]["std"] == pytest.approx(np.std([0.6, 0.6, 0.65], ddof=1))
    assert combined["probes"]["sex"]["random_init"]["auroc_per_seed"] == pytest.approx([0.4, 0.5, 0.5])
    wins = {(name, metric): paired[metric]["wins"] for name, paired in combined["paired"].items() for metric in paired}
    assert wins == {("view", "accuracy"): 3, ("view", "auroc"): 0, ("sex", "accuracy"): 2, ("sex", "auroc"): 1}
    text = format_combined(combined)
    assert "view probe accuracy over seeds, majority class 0.50: pretrained 0.750" in text
    assert "ahead in 3/3 seeds (one-sided sign test p = 0.125)" in text
    assert "view probe AUROC over seeds: pretrained 0.250" in text
    sex = combined["paired"]["sex"]["accuracy"]
    assert sex["diff_per_seed"] == pytest.approx([-0.1, 0.1, 0.05]) and sex["wins"] == 2
    assert sex["diff_mean"] == pytest.approx(np.mean([-0.1, 0.1, 0.05]))
    assert sex["sign_p"] == pytest.approx(0.5)  # P(>= 2 heads in 3 tosses) = 4 / 8
    assert "sex probe accuracy over seeds, majority class 0.50: pretrained 0.550 ± 0.050, random_init 0.533" in text
    assert "pretrained − random init +0.017 ± 0.104, ahead in 2/3 seeds" in text
    with pytest.raises(ValueError, match="at least one"):
        combine_seeds([])
    odd = _fake_run((0.7, 0.6), (0.5, 0.6), 1.0)
    del odd["probes"]["sex"]
    with pytest.raises(ValueError, match="different attributes"):
        combine_seeds([runs[0], odd])

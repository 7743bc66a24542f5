"""Bootstrap medians / intervals: determinism by seed and coverage of a known mean."""

from __future__ import annotations

import numpy as np
import pytest

from raddino_monai.evaluation.report.bootstrap import N_RESAMPLES, bootstrap_metric, resample_indices


def test_resamples_are_deterministic_by_seed() -> None:
    a, b, c = resample_indices(20, seed=3), resample_indices(20, seed=3), resample_indices(20, seed=4)
    assert a.shape == (N_RESAMPLES, 20) and a.min() >= 0 and a.max() < 20
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    values = np.random.default_rng(0).normal(size=20)
    first = bootstrap_metric(lambda rows: float(values[rows].mean()), a)
    assert first == bootstrap_metric(lambda rows: float(values[rows].mean()), b)
    assert first.value == pytest.approx(values.mean()) and first.n_resamples == N_RESAMPLES


def test_interval_matches_numpy_percentiles() -> None:
    values = np.arange(30.0)
    idx = resample_indices(30, 200, seed=1)
    result = bootstrap_metric(lambda rows: float(values[rows].mean()), idx, ci=0.9)
    means = values[idx].mean(axis=1)
    assert result.median == pytest.approx(np.median(means))
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(np.percentile(means, [5, 95])))


def test_coverage_of_a_known_mean() -> None:
    """The 95 % percentile interval of a sample mean covers the true mean in about 95 % of repeated samples."""
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        sample = rng.normal(loc=1.0, size=60)
        result = bootstrap_metric(lambda rows: float(sample[rows].mean()), resample_indices(60, 300, seed=trial))
        covered += result.ci_low <= 1.0 <= result.ci_high
    assert 0.88 <= covered / 200 <= 0.99


def test_errors() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        resample_indices(0)
    with pytest.raises(ValueError, match="ci"):
        bootstrap_metric(lambda rows: 0.0, resample_indices(3, 5), ci=1.5)

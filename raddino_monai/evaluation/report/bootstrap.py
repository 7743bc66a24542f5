"""Bootstrap medians and confidence intervals of corpus-level report metrics (the RAD-DINO paper's Table 5 protocol).

[PAPER] Table 5 reports each report-generation metric as the median and 95 % confidence interval over 500 bootstrap
resamples of the test set. One resample draws N report indices with replacement; the metric is recomputed on the
resampled set (corpus BLEU from the resampled statistics, mean ROUGE-L, F1 from the resampled label rows). The
indices come from ``numpy.random.default_rng(seed)``, so a seed fixes every resample, and all metrics of one
evaluation share the same resamples (paired).

Example:
    >>> values = np.arange(10.0)
    >>> result = bootstrap_metric(lambda idx: values[idx].mean(), resample_indices(10, 500, seed=0))
    >>> round(result.value, 1), result.ci_low < result.median < result.ci_high
    (4.5, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["N_RESAMPLES", "CI_LEVEL", "BootstrapResult", "resample_indices", "bootstrap_metric"]

N_RESAMPLES = 500  # [PAPER] Table 5: 500 bootstrap resamples
CI_LEVEL = 0.95  # [PAPER] Table 5: 95 % confidence interval


@dataclass(frozen=True)
class BootstrapResult:
    """A metric on the full set and over its bootstrap resamples.

    Attributes:
        value: the metric on the full (not resampled) set.
        median: median over resamples.
        ci_low, ci_high: percentile interval bounds (``(1 - ci) / 2`` and ``(1 + ci) / 2``).
        n_resamples: resamples drawn.
        ci: interval level.
    """

    value: float
    median: float
    ci_low: float
    ci_high: float
    n_resamples: int
    ci: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON / CSV)."""
        return asdict(self)


def resample_indices(n: int, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Bootstrap index draws.

    Args:
        n: items in the set (>= 1).
        n_resamples: resamples (>= 1).
        seed: generator seed (``numpy.random.default_rng``).

    Returns:
        ``(n_resamples, n)`` int array; row ``r`` lists the items of resample ``r`` (with repetition).

    Raises:
        ValueError: ``n < 1`` or ``n_resamples < 1``.
    """
    if n < 1 or n_resamples < 1:
        raise ValueError(f"need n >= 1 and n_resamples >= 1, found n={n}, n_resamples={n_resamples}.")
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def bootstrap_metric(
    statistic: Callable[[np.ndarray], float], indices: np.ndarray, ci: float = CI_LEVEL
) -> BootstrapResult:
    """Median and percentile interval of ``statistic`` over the resamples in ``indices``.

    Args:
        statistic: maps an index array (items of one resample, with repetition) to the metric value.
        indices: ``(R, N)`` from :func:`resample_indices`.
        ci: interval level in (0, 1).

    Returns:
        the result; ``value`` is ``statistic(arange(N))``.

    Raises:
        ValueError: ``ci`` not in (0, 1) or ``indices`` not 2-D.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie in (0, 1), found {ci}.")
    if indices.ndim != 2:
        raise ValueError(f"indices should be (n_resamples, n), found shape {indices.shape}.")
    samples = np.array([statistic(row) for row in indices], dtype=float)
    low, high = np.percentile(samples, [50 * (1 - ci), 50 * (1 + ci)])
    return BootstrapResult(
        value=float(statistic(np.arange(indices.shape[1]))), median=float(np.median(samples)), ci_low=float(low),
        ci_high=float(high), n_resamples=int(indices.shape[0]), ci=ci,
    )  # fmt: skip

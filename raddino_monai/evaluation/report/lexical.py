"""Lexical report metrics: ROUGE-L (``rouge-score``) and BLEU-4 (``sacrebleu``), as per-report pieces that a bootstrap
can re-aggregate.

* **ROUGE-L**: F-measure of the longest common subsequence per report (``rouge_score.rouge_scorer.RougeScorer``
  with ``rougeL``; its default tokenizer: lower case, non-alphanumerics to spaces; stemming off, the package's
  default); the corpus value is the mean over reports.
* **BLEU-4**: corpus BLEU (Papineni et al. 2002) with sacrebleu's defaults (``13a`` tokenizer, case-sensitive,
  ``exp`` smoothing, one reference per report). Corpus BLEU is a function of summed sufficient statistics (hypothesis
  and reference lengths, matched and total n-grams for n = 1..4), so :func:`bleu_statistics` returns them per report
  and :func:`bleu_from_statistics` scores any (re)sampled sum: a bootstrap resample costs a sum, not a re-tokenisation.

Both are reported in percent (0-100), as report-generation papers do. The packages are the ``report`` extra
(``pip install raddino_monai[report]``); they are imported when a function is called.

Example:
    >>> rouge_l(["no pleural effusion"], ["no effusion"])  # doctest: +SKIP
    array([0.8])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["rouge_l", "bleu_statistics", "bleu_from_statistics", "corpus_bleu", "require_report_extra"]


def require_report_extra(module: str) -> Any:
    """Import ``module`` (``"rouge_score.rouge_scorer"`` or ``"sacrebleu"``) or say how to install it.

    Raises:
        ImportError: the ``report`` extra is not installed (the message gives the pip command).
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{module} is needed for report metrics: pip install 'raddino_monai[report]' "
            "(rouge-score and sacrebleu, pinned in requirements/constraints.txt)."
        ) from err


def _check(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"need one reference per prediction, found {len(predictions)} predictions and "
                         f"{len(references)} references.")  # fmt: skip


def rouge_l(predictions: Sequence[str], references: Sequence[str], use_stemmer: bool = False) -> np.ndarray:
    """ROUGE-L F-measure of each prediction against its reference.

    Args:
        predictions: generated reports.
        references: reference reports, same length.
        use_stemmer: Porter stemming of words longer than 3 characters (rouge-score option; default off).

    Returns:
        ``(N,)`` float array in [0, 1] (0 when either text has no token).

    Raises:
        ValueError: lengths differ.
    """
    _check(predictions, references)
    scorer = require_report_extra("rouge_score.rouge_scorer").RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    return np.array([scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references)], dtype=float)


def _bleu(tokenize: str, lowercase: bool) -> Any:
    return require_report_extra("sacrebleu").BLEU(tokenize=tokenize, lowercase=lowercase)


def bleu_statistics(
    predictions: Sequence[str], references: Sequence[str], tokenize: str = "13a", lowercase: bool = False
) -> np.ndarray:
    """BLEU sufficient statistics of each report (sacrebleu's segment statistics).

    Args:
        predictions: generated reports.
        references: one reference per prediction.
        tokenize: sacrebleu tokenizer name (default ``"13a"``, sacrebleu's default).
        lowercase: lower-case before scoring (sacrebleu default False).

    Returns:
        ``(N, 10)`` int array: hypothesis length, reference length, matched n-grams n = 1..4, total hypothesis
        n-grams n = 1..4.

    Raises:
        ValueError: lengths differ.
    """
    _check(predictions, references)
    metric = _bleu(tokenize, lowercase)
    stats = metric._extract_corpus_statistics(list(predictions), [list(references)])  # one reference stream
    return np.asarray(stats, dtype=np.int64).reshape(len(predictions), 10)


def bleu_from_statistics(stats: np.ndarray, tokenize: str = "13a", lowercase: bool = False) -> float:
    """Corpus BLEU-4 (percent) from summed or per-report statistics.

    Args:
        stats: ``(10,)`` summed statistics, or ``(N, 10)`` per-report statistics (summed here).
        tokenize, lowercase: as for :func:`bleu_statistics` (they do not change the arithmetic; kept so one metric
            object describes both steps).

    Returns:
        BLEU in [0, 100].
    """
    total = np.asarray(stats, dtype=np.int64)
    total = total.sum(axis=0) if total.ndim == 2 else total
    return float(_bleu(tokenize, lowercase)._compute_score_from_stats([int(v) for v in total]).score)


def corpus_bleu(
    predictions: Sequence[str], references: Sequence[str], tokenize: str = "13a", lowercase: bool = False
) -> float:
    """Corpus BLEU-4 (percent) through sacrebleu's public ``corpus_score`` (reference for the statistics path)."""
    _check(predictions, references)
    return float(_bleu(tokenize, lowercase).corpus_score(list(predictions), [list(references)]).score)

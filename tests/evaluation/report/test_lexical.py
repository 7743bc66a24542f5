"""ROUGE-L and BLEU-4 against hand-computed values and an independent NumPy re-derivation."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("rouge_score")
pytest.importorskip("sacrebleu")

from raddino_monai.evaluation.report.lexical import (  # noqa: E402
    bleu_from_statistics,
    bleu_statistics,
    corpus_bleu,
    rouge_l,
)

WORDS = ["no", "the", "heart", "is", "normal", "effusion", "pleural", "left", "small", "lungs", "clear", "mild"]


def _lcs(a: list[str], b: list[str]) -> int:
    table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            table[i, j] = table[i - 1, j - 1] + 1 if x == y else max(table[i - 1, j], table[i, j - 1])
    return int(table[-1, -1])


def _rouge_l(pred: str, ref: str) -> float:
    """LCS F1 with rouge-score's tokenisation: lower case, non-alphanumerics are separators."""
    p, r = (re.sub(r"[^a-z0-9]+", " ", t.lower()).split() for t in (pred, ref))
    if not p or not r:
        return 0.0
    lcs = _lcs(p, r)
    precision, recall = lcs / len(p), lcs / len(r)
    return 0.0 if lcs == 0 else 2 * precision * recall / (precision + recall)


def _bleu(preds: list[list[str]], refs: list[list[str]]) -> float:
    """Corpus BLEU-4 (Papineni et al.) with sacrebleu's 'exp' smoothing of zero n-gram matches, in percent."""
    correct, total = np.zeros(4), np.zeros(4)
    hyp_len = sum(len(p) for p in preds)
    ref_len = sum(len(r) for r in refs)
    for p, r in zip(preds, refs):
        for n in range(1, 5):
            hyp = Counter(tuple(p[i : i + n]) for i in range(len(p) - n + 1))
            ref = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            correct[n - 1] += sum(min(c, ref[g]) for g, c in hyp.items())
            total[n - 1] += sum(hyp.values())
    if correct.sum() == 0:
        return 0.0
    precisions, smooth = [], 1.0
    for c, t in zip(correct, total):
        if c == 0:
            smooth *= 2
            precisions.append(1 / (smooth * t))
        else:
            precisions.append(c / t)
    bp = 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * bp * math.exp(np.mean(np.log(precisions)))


def test_rouge_l_hand_computed() -> None:
    # LCS("the heart is normal", "heart size is normal") = heart is normal: P = R = 3/4
    assert rouge_l(["The heart is normal."], ["Heart size is normal."])[0] == pytest.approx(0.75)
    # LCS = 2 of 2 predicted and 3 reference tokens: P = 1, R = 2/3, F = 0.8
    assert rouge_l(["no effusion"], ["no pleural effusion"])[0] == pytest.approx(0.8)
    assert rouge_l([""], ["anything"])[0] == 0.0


def test_rouge_l_matches_numpy_lcs() -> None:
    rng = np.random.default_rng(0)
    preds = [" ".join(rng.choice(WORDS, rng.integers(1, 12))) for _ in range(30)]
    refs = [" ".join(rng.choice(WORDS, rng.integers(1, 12))) for _ in range(30)]
    np.testing.assert_allclose(rouge_l(preds, refs), [_rouge_l(p, r) for p, r in zip(preds, refs)])


def test_bleu_hand_computed() -> None:
    # 1..4-gram precisions 4/5, 3/4, 2/3, 1/2, equal lengths: BLEU = (0.8 * 0.75 * 2/3 * 0.5) ** 0.25 = 0.2 ** 0.25
    assert corpus_bleu(["a b c d e"], ["a b c d f"]) == pytest.approx(100 * 0.2**0.25)
    # brevity penalty: hypothesis of 4 against reference of 5 tokens, all n-grams matching
    assert corpus_bleu(["a b c d"], ["a b c d e"]) == pytest.approx(100 * math.exp(1 - 5 / 4))


def test_bleu_matches_numpy_and_statistics_path() -> None:
    rng = np.random.default_rng(1)
    preds = [" ".join(rng.choice(WORDS, rng.integers(3, 15))) for _ in range(40)]
    refs = [" ".join(rng.choice(WORDS, rng.integers(3, 15))) for _ in range(40)]
    expected = _bleu([p.split() for p in preds], [r.split() for r in refs])
    assert corpus_bleu(preds, refs) == pytest.approx(expected, rel=1e-9)
    stats = bleu_statistics(preds, refs)
    assert stats.shape == (40, 10)
    assert bleu_from_statistics(stats) == pytest.approx(expected, rel=1e-9)
    rows = rng.integers(0, 40, size=40)  # a bootstrap resample: summed statistics = corpus BLEU of the resample
    assert bleu_from_statistics(stats[rows]) == pytest.approx(corpus_bleu([preds[i] for i in rows],
                                                                          [refs[i] for i in rows]))


def test_length_mismatch() -> None:
    with pytest.raises(ValueError, match="one reference per prediction"):
        rouge_l(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="one reference per prediction"):
        bleu_statistics(["a"], [])

"""Clinical F1 (macro-F1-14, micro-F1-5) against hand-computed values and sklearn's classification_report."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import classification_report

from raddino_monai.evaluation.report.clinical import binarize, clinical_f1
from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS, COMPETITION_OBSERVATIONS

COL = {name: i for i, name in enumerate(CHEXPERT_OBSERVATIONS)}


def _labels(rows: list[dict[str, float]]) -> np.ndarray:
    out = np.full((len(rows), 14), np.nan)
    for i, row in enumerate(rows):
        for name, value in row.items():
            out[i, COL[name]] = value
    return out


def test_hand_computed() -> None:
    ref = _labels([{"Cardiomegaly": 1, "Edema": 1}, {"Cardiomegaly": 0}, {"No Finding": 1}])
    pred = _labels([{"Cardiomegaly": 1}, {"Cardiomegaly": 1}, {"No Finding": 1, "Edema": -1}])
    scores = clinical_f1(pred, ref)  # uncertain -> negative
    # Cardiomegaly: TP 1, FP 1 -> F1 2/3; Edema: FN 1 -> 0; No Finding: 1; the other 11: positive nowhere -> 1
    assert scores["f1/Cardiomegaly"] == pytest.approx(200 / 3)
    assert scores["f1/Edema"] == 0.0 and scores["f1/No Finding"] == 100.0 and scores["f1/Fracture"] == 100.0
    assert scores["macro_f1_14"] == pytest.approx(100 * (2 / 3 + 0 + 1 + 11) / 14)
    # micro over the 5: TP 1, FP 1, FN 1 -> 0.5
    assert scores["micro_f1_5"] == pytest.approx(50.0)
    assert scores["macro_f1_5"] == pytest.approx(100 * (2 / 3 + 0 + 1 + 1 + 1) / 5)
    # uncertain -> positive turns the Edema -1 into an FP at row 2
    assert clinical_f1(pred, ref, uncertain="positive")["micro_f1_5"] == pytest.approx(100 * 2 * 1 / (2 + 2 + 1))
    # rows: a resample with repetition
    assert clinical_f1(pred, ref, rows=[0, 0])["f1/Cardiomegaly"] == 100.0


def test_matches_sklearn_classification_report() -> None:
    rng = np.random.default_rng(0)
    pred = rng.choice([1.0, 0.0, -1.0, np.nan], size=(50, 14), p=[0.2, 0.3, 0.1, 0.4])
    ref = rng.choice([1.0, 0.0, -1.0, np.nan], size=(50, 14), p=[0.2, 0.3, 0.1, 0.4])
    ref[:, COL["Fracture"]] = np.nan
    pred[:, COL["Fracture"]] = np.nan  # positive nowhere: zero division
    for uncertain in ("negative", "positive"):
        yp, yt = binarize(pred, uncertain).astype(int), binarize(ref, uncertain).astype(int)
        full = classification_report(yt, yp, output_dict=True, zero_division=1.0)
        five = [COL[n] for n in COMPETITION_OBSERVATIONS]
        sub = classification_report(yt[:, five], yp[:, five], output_dict=True, zero_division=1.0)
        scores = clinical_f1(pred, ref, uncertain=uncertain)
        assert scores["macro_f1_14"] == pytest.approx(100 * full["macro avg"]["f1-score"])
        assert scores["micro_f1_14"] == pytest.approx(100 * full["micro avg"]["f1-score"])
        assert scores["micro_f1_5"] == pytest.approx(100 * sub["micro avg"]["f1-score"])
        assert scores["macro_f1_5"] == pytest.approx(100 * sub["macro avg"]["f1-score"])


def test_errors() -> None:
    with pytest.raises(ValueError, match="valid values"):
        binarize(np.zeros((1, 14)), uncertain="ignore")
    with pytest.raises(ValueError, match=r"\(N, 14\)"):
        clinical_f1(np.zeros((2, 14)), np.zeros((2, 13)))

"""evaluate_reports: every metric present, unavailable adapters said so (never 0), loaded adapters used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rouge_score")
pytest.importorskip("sacrebleu")

from raddino_monai.evaluation.report.evaluate import ReportMetricsConfig, evaluate_reports  # noqa: E402
from raddino_monai.evaluation.report.lexical import corpus_bleu, rouge_l  # noqa: E402

PRED = ["No pleural effusion. Heart size is normal.", "Mild cardiomegaly.", "Possible left lower lobe pneumonia.",
        "No pneumothorax."]  # fmt: skip
REF = ["No effusion. The heart is normal in size.", "Moderate cardiomegaly and small left effusion.",
       "Left lower lobe pneumonia.", "Small apical pneumothorax."]  # fmt: skip


def test_metrics_and_unavailable_adapters() -> None:
    result = evaluate_reports(PRED, REF, ReportMetricsConfig(n_resamples=50, seed=1))
    metrics = result["metrics"]
    assert result["n"] == 4 and result["config"]["n_resamples"] == 50
    assert metrics["rouge_l"]["value"] == pytest.approx(100 * rouge_l(PRED, REF).mean())
    assert metrics["bleu4"]["value"] == pytest.approx(corpus_bleu(PRED, REF))
    for name in ("rouge_l", "bleu4", "chexpert_rules/macro_f1_14", "chexpert_rules/micro_f1_5"):
        entry = metrics[name]
        assert entry["status"] == "ok" and entry["ci_low"] <= entry["median"] <= entry["ci_high"], name
    for name in ("chexbert/macro_f1_14", "chexbert/micro_f1_5", "radgraph/rg_er"):
        assert metrics[name]["status"].startswith("unavailable: no ") and "value" not in metrics[name]
    assert result["per_report"]["chexpert_rules/pred"].shape == (4, 14)
    again = evaluate_reports(PRED, REF, ReportMetricsConfig(n_resamples=50, seed=1))
    assert again["metrics"] == metrics  # deterministic by seed
    other = evaluate_reports(PRED, REF, ReportMetricsConfig(n_resamples=50, seed=2))["metrics"]["rouge_l"]
    assert other["value"] == metrics["rouge_l"]["value"] and other["ci_low"] != metrics["rouge_l"]["ci_low"]


def test_paths_given_but_unusable_raise(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="CheXbert checkpoint"):
        evaluate_reports(PRED, REF, ReportMetricsConfig(n_resamples=5, chexbert=str(tmp_path / "chexbert.pth")))
    with pytest.raises(FileNotFoundError, match="RadGraph model folder"):
        evaluate_reports(PRED, REF, ReportMetricsConfig(n_resamples=5, radgraph=str(tmp_path / "rg")))
    with pytest.raises(ValueError, match="as many references"):
        evaluate_reports(PRED, REF[:2])
    with pytest.raises(ValueError, match="valid values"):
        ReportMetricsConfig(uncertain="drop")


def test_radgraph_package_missing_is_unavailable(radgraph_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "radgraph", None)
    metrics = evaluate_reports(PRED, REF, ReportMetricsConfig(n_resamples=5, radgraph=str(radgraph_folder)))["metrics"]
    assert metrics["radgraph/rg_er"]["status"].startswith("unavailable: the radgraph package is not installed")


def test_with_adapters(fake_chexbert: tuple[Path, Path], radgraph_folder: Path, fake_radgraph: dict[str, Any]) -> None:
    checkpoint, vocab = fake_chexbert
    config = ReportMetricsConfig(n_resamples=20, chexbert=str(checkpoint), chexbert_tokenizer=str(vocab),
                                 radgraph=str(radgraph_folder))  # fmt: skip
    result = evaluate_reports(PRED, REF, config)
    metrics = result["metrics"]
    # the fake CheXbert gives every report the same labels: predictions agree with references perfectly
    assert metrics["chexbert/macro_f1_14"]["value"] == 100.0 and metrics["chexbert/micro_f1_5"]["status"] == "ok"
    overlap = [len(set(r.split()) & set(p.split())) / len(set(r.split())) for p, r in zip(PRED, REF)]
    assert metrics["radgraph/rg_e"]["value"] == pytest.approx(100 * np.mean(overlap))
    assert metrics["radgraph/rg_er"]["value"] == pytest.approx(50 * np.mean(overlap))
    assert result["per_report"]["radgraph"].shape == (4, 3)

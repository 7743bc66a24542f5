"""Every report-generation metric of [PAPER] Table 5 for one set of generated reports, with bootstrap CIs.

:func:`evaluate_reports` computes, for N (prediction, reference) pairs:

* ``rouge_l``, ``bleu4`` (:mod:`.lexical`), in percent;
* ``chexpert_rules/*``: macro-F1-14, micro-F1-5 (and micro-F1-14, macro-F1-5, per-observation F1) from the offline
  rule labeler (:mod:`.labeler`, :mod:`.clinical`): always available;
* ``chexbert/*``: the same F1 from a local CheXbert checkpoint (:mod:`.chexbert`), or ``unavailable: <reason>``;
* ``radgraph/rg_e|rg_er|rg_er_bar``: RadGraph F1 from a local model folder (:mod:`.radgraph`), or
  ``unavailable: <reason>``;

each as the value on the full set plus median and 95 % interval over 500 paired bootstrap resamples
(:mod:`.bootstrap`). A metric that cannot be computed is never reported as 0: its entry is
``{"status": "unavailable: ..."}``. A path that is given but cannot be loaded raises before anything is computed.

Example::

    >>> result = evaluate_reports(["No effusion."], ["No pleural effusion."], ReportMetricsConfig(n_resamples=50))
    >>> result["metrics"]["rouge_l"]["value"], result["metrics"]["chexbert/macro_f1_14"]["status"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raddino_monai.evaluation.report import lexical
from raddino_monai.evaluation.report.bootstrap import CI_LEVEL, N_RESAMPLES, bootstrap_metric, resample_indices
from raddino_monai.evaluation.report.clinical import UNCERTAIN_POLICIES, ZERO_DIVISION, clinical_f1
from raddino_monai.evaluation.report.labeler import CheXpertRuleLabeler
from raddino_monai.evaluation.report.radgraph import RADGRAPH_REWARDS, RadGraphF1, RadGraphUnavailable

__all__ = ["ReportMetricsConfig", "CLINICAL_KEYS", "evaluate_reports"]

#: clinical F1 entries reported per labeler
CLINICAL_KEYS: tuple[str, ...] = ("macro_f1_14", "micro_f1_5", "micro_f1_14", "macro_f1_5")


@dataclass
class ReportMetricsConfig:
    """Options of :func:`evaluate_reports` (defaults reproduce [PAPER] Table 5's protocol).

    Attributes:
        n_resamples: bootstrap resamples ([PAPER] Table 5: 500).
        ci: interval level ([PAPER] Table 5: 95 %).
        seed: resampling seed (same seed, same intervals).
        uncertain: how uncertain labels count in clinical F1: ``"negative"`` ([PAPER]: "uncertain" mapped to
            negative for macro-F1-14) or ``"positive"`` (f1chexbert ``mode="rrg"``).
        zero_division: F1 of an observation positive in neither set (f1chexbert: 1.0).
        rouge_stemmer: Porter stemming in ROUGE-L (rouge-score default: off).
        bleu_tokenize: sacrebleu tokenizer (sacrebleu default: ``"13a"``).
        bleu_lowercase: case-insensitive BLEU (sacrebleu default: off).
        chexbert: local ``chexbert.pth``; None: CheXbert F1 reported unavailable.
        chexbert_tokenizer: local ``bert-base-uncased`` folder or ``vocab.txt`` (default: next to the checkpoint).
        radgraph: local extracted RadGraph archive folder; None: RadGraph F1 reported unavailable.
        radgraph_model_type: ``"radgraph"``, ``"radgraph-xl"`` or ``"modern-radgraph-xl"``.
        device: device of the CheXbert / RadGraph models.
        batch_size: CheXbert batch size.
    """

    n_resamples: int = N_RESAMPLES
    ci: float = CI_LEVEL
    seed: int = 0
    uncertain: str = "negative"
    zero_division: float = ZERO_DIVISION
    rouge_stemmer: bool = False
    bleu_tokenize: str = "13a"
    bleu_lowercase: bool = False
    chexbert: str | None = None
    chexbert_tokenizer: str | None = None
    radgraph: str | None = None
    radgraph_model_type: str = "radgraph-xl"
    device: str = "cpu"
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.uncertain not in UNCERTAIN_POLICIES:
            raise ValueError(f"uncertain={self.uncertain!r} is not valid; valid values are {list(UNCERTAIN_POLICIES)}.")
        if self.n_resamples < 1 or not 0 < self.ci < 1:
            raise ValueError(f"need n_resamples >= 1 and 0 < ci < 1, found {self.n_resamples} and {self.ci}.")


def _unavailable(reason: str) -> dict[str, Any]:
    return {"status": f"unavailable: {reason}"}


def _ok(result: Any) -> dict[str, Any]:
    return {"status": "ok", **result.as_dict()}


def _clinical(prefix: str, pred: np.ndarray, ref: np.ndarray, idx: np.ndarray, cfg: ReportMetricsConfig) -> dict:
    """Bootstrap each clinical F1 key; per-observation F1 on the full set only."""
    out: dict[str, Any] = {}
    for key in CLINICAL_KEYS:
        out[f"{prefix}/{key}"] = _ok(bootstrap_metric(
            lambda rows, key=key: clinical_f1(pred, ref, cfg.uncertain, cfg.zero_division, rows=rows)[key],
            idx, cfg.ci))  # fmt: skip
    for key, value in clinical_f1(pred, ref, cfg.uncertain, cfg.zero_division).items():
        if key.startswith("f1/"):
            out[f"{prefix}/{key}"] = {"status": "ok", "value": value}
    return out


def _load_models(cfg: ReportMetricsConfig) -> tuple[Any, Any, dict[str, str]]:
    """Build the CheXbert / RadGraph scorers that were asked for (errors for bad paths raise here, early)."""
    reasons: dict[str, str] = {}
    chexbert = radgraph = None
    if cfg.chexbert is None:
        reasons["chexbert"] = "no CheXbert checkpoint given (chexbert=<local chexbert.pth>)"
    else:
        from raddino_monai.evaluation.report.chexbert import CheXbertLabeler

        chexbert = CheXbertLabeler(cfg.chexbert, cfg.chexbert_tokenizer, device=cfg.device,
                                   batch_size=cfg.batch_size)  # fmt: skip
    if cfg.radgraph is None:
        reasons["radgraph"] = "no RadGraph model folder given (radgraph=<extracted radgraph archive>)"
    else:
        try:
            radgraph = RadGraphF1(cfg.radgraph, cfg.radgraph_model_type, device=cfg.device)
        except RadGraphUnavailable as err:
            reasons["radgraph"] = str(err)
    return chexbert, radgraph, reasons


def evaluate_reports(
    predictions: Sequence[str],
    references: Sequence[str],
    config: ReportMetricsConfig | None = None,
    labeler: CheXpertRuleLabeler | None = None,
) -> dict[str, Any]:
    """All report metrics for paired predictions and references.

    Args:
        predictions: generated reports.
        references: reference reports (same order).
        config: options; default :class:`ReportMetricsConfig()`.
        labeler: rule labeler (default :class:`~.labeler.CheXpertRuleLabeler`).

    Returns:
        ``{"n": N, "config": {...}, "metrics": {name: entry}, "per_report": {...}}``: ``entry`` is
        ``{"status": "ok", "value", "median", "ci_low", "ci_high", "n_resamples", "ci"}`` (per-observation F1:
        ``value`` only) or ``{"status": "unavailable: <reason>"}``; ``per_report`` holds ``rouge_l`` and the labels
        (``(N, 14)`` arrays) of both sides, and the RadGraph rewards when computed.

    Raises:
        ValueError: empty input or lengths differ.
        FileNotFoundError / ValueError: a CheXbert / RadGraph path is given but unusable.
    """
    cfg = config or ReportMetricsConfig()
    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"need as many references as predictions (>= 1), found {len(predictions)} predictions and "
                         f"{len(references)} references.")  # fmt: skip
    predictions, references = [str(p) for p in predictions], [str(r) for r in references]
    chexbert, radgraph, reasons = _load_models(cfg)
    idx = resample_indices(len(predictions), cfg.n_resamples, cfg.seed)
    metrics: dict[str, Any] = {}

    rouge = 100 * lexical.rouge_l(predictions, references, use_stemmer=cfg.rouge_stemmer)
    metrics["rouge_l"] = _ok(bootstrap_metric(lambda rows: float(rouge[rows].mean()), idx, cfg.ci))
    stats = lexical.bleu_statistics(predictions, references, cfg.bleu_tokenize, cfg.bleu_lowercase)
    metrics["bleu4"] = _ok(bootstrap_metric(
        lambda rows: lexical.bleu_from_statistics(stats[rows], cfg.bleu_tokenize, cfg.bleu_lowercase), idx, cfg.ci))

    rule = labeler or CheXpertRuleLabeler()
    per_report: dict[str, Any] = {"rouge_l": rouge, "chexpert_rules/pred": rule.label_many(predictions),
                                  "chexpert_rules/ref": rule.label_many(references)}  # fmt: skip
    metrics.update(_clinical("chexpert_rules", per_report["chexpert_rules/pred"], per_report["chexpert_rules/ref"],
                             idx, cfg))  # fmt: skip
    if chexbert is not None:
        per_report["chexbert/pred"], per_report["chexbert/ref"] = (
            chexbert.label_many(predictions), chexbert.label_many(references))
        metrics.update(_clinical("chexbert", per_report["chexbert/pred"], per_report["chexbert/ref"], idx, cfg))
    else:
        metrics.update({f"chexbert/{key}": _unavailable(reasons["chexbert"]) for key in CLINICAL_KEYS})
    if radgraph is not None:
        rewards = 100 * radgraph(predictions, references)
        per_report["radgraph"] = rewards
        for j, key in enumerate(RADGRAPH_REWARDS):
            metrics[f"radgraph/{key}"] = _ok(bootstrap_metric(lambda rows, j=j: float(rewards[rows, j].mean()),
                                                              idx, cfg.ci))  # fmt: skip
    else:
        metrics.update({f"radgraph/{key}": _unavailable(reasons["radgraph"]) for key in RADGRAPH_REWARDS})
    return {"n": len(predictions), "config": dataclasses.asdict(cfg), "metrics": metrics, "per_report": per_report}

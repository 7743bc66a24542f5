"""Frozen evaluations of the comparison: cross-modal retrieval for methods with text embedders, report generation
with a local LM, skip reasons."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from raddino_monai.data.datalist import load_datalist
from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.experiments.frozen_evaluations import FrozenEvalConfig, evaluate_frozen
from raddino_monai.experiments.heldout import with_patient_groups
from raddino_monai.experiments.pretraining_methods import PretrainedEncoder


def _items() -> list[dict]:
    items = with_patient_groups(load_datalist(sample_datalist_path())[:40])
    return [{**it, "report": f"findings consistent with: {it['label']}"} for it in items]


def test_text_retrieval_runs_when_the_method_gives_text_embedders() -> None:
    items = _items()
    classes = sorted({it["label"] for it in items})

    def one_hot(label: str) -> np.ndarray:
        return np.eye(len(classes))[classes.index(label)]

    embedders = {  # a perfect joint space: the label's one-hot vector, for images and for their reports
        "image": lambda batch: np.stack([one_hot(b["label"]) for b in batch]),
        "text": lambda batch: np.stack([one_hot(b["text"].split(": ", 1)[1]) for b in batch]),
    }
    config = FrozenEvalConfig(evaluations=("retrieval",), eval_image_size=28)
    records, skipped = evaluate_frozen(PretrainedEncoder("tiny_vit_p14", embedders=embedders), items, config)
    by_setting = {(r["setting"], r["metric"]): r["value"] for r in records}

    def oracle(k: int) -> float:  # a perfect ranking: min(k, same-class candidates of other patients) / k per query
        return float(np.mean([min(k, sum(c["label"] == q["label"] and c["patient_id"] != q["patient_id"]
                                         for c in items)) / k for q in items]))

    assert by_setting[("text_to_image", "precision@5")] == pytest.approx(oracle(5))
    assert by_setting[("image_to_text", "precision@10")] == pytest.approx(oracle(10))
    assert oracle(5) > 0.9
    assert 0 <= by_setting[("image_to_image", "precision@5")] <= 1 and not skipped


def test_evaluations_without_their_inputs_are_skipped_with_a_reason() -> None:
    items = [{k: v for k, v in it.items() if k not in ("mask", "label", "sex")} for it in _items()]
    config = FrozenEvalConfig(evaluations=("linear_probe", "segmentation", "retrieval", "metadata_probe"),
                              eval_image_size=28, metadata_attributes=("sex",))
    records, skipped = evaluate_frozen(PretrainedEncoder("tiny_vit_p14"), items, config)
    assert records == []
    assert "with 'label'" in skipped["linear_probe"] and "'mask'" in skipped["segmentation"]
    assert "'label'" in skipped["retrieval"] and "no held-out item has 'sex'" in skipped["metadata_probe/sex"]


def test_report_generation_is_skipped_without_an_lm_and_scored_with_one(tmp_path) -> None:
    from raddino_monai.report.evidence import REPORT_SCORES
    from raddino_monai.report.tiny import build_random_lm

    items = _items()
    config = FrozenEvalConfig(evaluations=("report_generation",), eval_image_size=28)
    records, skipped = evaluate_frozen(PretrainedEncoder("tiny_vit_p14"), items, config)
    assert records == [] and "no report_lm given" in skipped["report_generation"]

    lm = build_random_lm(tmp_path / "lm", [it["report"] for it in items], family="llama", seed=0)
    config = FrozenEvalConfig(evaluations=("report_generation",), eval_image_size=28, report_lm=str(lm),
                              report_options={"template": "plain", "epochs": 1, "max_new_tokens": 4,
                                              "precision": "fp32", "model_max_length": 64})
    records, skipped = evaluate_frozen(PretrainedEncoder("tiny_vit_p14"), items, config, seed=1,
                                       work_dir=tmp_path / "eval")
    values = {r["metric"]: r["value"] for r in records}
    assert not skipped and set(values) == set(REPORT_SCORES)
    assert values["heldout_token_loss"] > 0 and 0 <= values["rouge_l"] <= 100 and 0 <= values["micro_f1_5"] <= 100
    (run,) = (tmp_path / "eval").glob("report_generation_*")  # one folder, named by the settings' digest
    assert (run / "predictions.csv").is_file() and (run / "run" / "model").is_dir()
    n_test = {r["n"] for r in records}.pop()
    assert len((run / "references.csv").read_text().strip().splitlines()) == n_test + 1  # header + test reports
    again, _ = evaluate_frozen(PretrainedEncoder("tiny_vit_p14"), items, config, seed=1, work_dir=tmp_path / "eval")
    assert again == records  # a rerun reuses the trained projector and the predictions
    other = dataclasses.replace(config, report_options={**config.report_options, "max_new_tokens": 3})
    evaluate_frozen(PretrainedEncoder("tiny_vit_p14"), items, other, seed=1, work_dir=tmp_path / "eval")
    assert len(list((tmp_path / "eval").glob("report_generation_*"))) == 2  # other settings: not the stale folder

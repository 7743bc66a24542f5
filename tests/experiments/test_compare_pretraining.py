"""The pretraining comparison: one budget for every method, evaluation on held-out patients only, outputs written,
bad method names refused before anything runs, and a tiny end-to-end run with the real SSL engine."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from raddino_monai.data.datalist import load_datalist
from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.experiments import frozen_evaluations
from raddino_monai.experiments.compare_pretraining import CompareConfig, compare_pretraining
from raddino_monai.experiments.frozen_evaluations import FrozenEvalConfig
from raddino_monai.experiments.pretraining_methods import PretrainBudget, random_method

ROOT = Path(__file__).resolve().parents[2]
FAST_EVAL = FrozenEvalConfig(evaluations=("metadata_probe", "retrieval"), eval_image_size=28,
                             metadata_attributes=("view_group",))


def _recording(calls: list[dict], name: str):  # noqa: ANN202
    def method(items, spec, budget, out, seed):  # noqa: ANN001, ANN202
        calls.append({"name": name, "images": {it["image"] for it in items}, "budget": budget, "seed": seed,
                      "spec": spec})
        return random_method(items, spec, budget, out, seed)
    return method


def test_every_method_gets_the_same_budget_and_never_sees_evaluated_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluated: list[set[str]] = []
    real = frozen_evaluations.evaluate_frozen

    def spy(encoder, items, config, seed=0, work_dir=None):  # noqa: ANN001, ANN202
        evaluated.append({it["image"] for it in items})
        return real(encoder, items, config, seed, work_dir)

    monkeypatch.setattr("raddino_monai.experiments.compare_pretraining.evaluate_frozen", spy)
    calls: list[dict] = []
    budget = PretrainBudget(steps=7, batch_size=3, image_size=28)
    names = ("a", "b", "c")
    results = compare_pretraining(
        sample_datalist_path(), tmp_path / "run", CompareConfig(methods=names, reference="a", seeds=(0, 1),
                                                                encoder="tiny_vit_p14"),
        budget, FAST_EVAL, methods={n: _recording(calls, n) for n in names},
    )
    assert [c["name"] for c in calls] == ["a", "b", "c"] * 2
    assert all(c["budget"] is budget for c in calls)  # one frozen object: same steps, batch, side, cap
    assert {c["spec"] for c in calls} == {"tiny_vit_p14"}
    n_items = len(load_datalist(sample_datalist_path()))
    for k, call in enumerate(calls):
        assert call["images"].isdisjoint(evaluated[k])  # pretraining never saw an evaluated image
        assert len(call["images"]) + len(evaluated[k]) == n_items
        assert call["images"] == calls[k - k % 3]["images"]  # all methods of a seed: the same pretraining items
    assert calls[0]["images"] != calls[3]["images"]  # the split follows the seed
    assert results["budget"]["images_seen"] == 21 and results["held_out_patients"] is True


def test_outputs_written_and_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = CompareConfig(methods=("random", "other"), reference="random", encoder="tiny_vit_p14", seeds=(0, 1))
    other = _recording([], "other")
    results = compare_pretraining(sample_datalist_path(), out, config, PretrainBudget(image_size=28), FAST_EVAL,
                                  methods={"other": other})
    for name in ("records.csv", "summary.csv", "results.md", "results.png", "results.json", "config.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "records.csv") as f:
        records = list(csv.DictReader(f))
    assert {r["method"] for r in records} == {"random", "other"} and {r["seed"] for r in records} == {"0", "1"}
    assert {r["task"] for r in records} == {"metadata_probe", "retrieval"}
    text = (out / "results.md").read_text()
    assert "random − other (paired)" in text and "Held-out patients" in text and "| random | 1 | 300 × 16 |" in text
    # the same seeded init, evaluated the same way: every paired difference is exactly zero
    assert all(p["diff_mean"] == 0 for row in results["summary"] for p in row["paired"].values())
    split = json.loads((out / "seed_0" / "split.json").read_text())
    assert set(split["pretrain"]).isdisjoint(split["evaluation"])
    with pytest.raises(FileExistsError, match="never overwritten"):
        compare_pretraining(sample_datalist_path(), out, config, PretrainBudget(), FAST_EVAL, methods={"other": other})


def test_interrupted_run_reuses_finished_methods(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = CompareConfig(methods=("random", "counted"), reference="random", encoder="tiny_vit_p14")
    calls: list[dict] = []
    compare_pretraining(sample_datalist_path(), out, config, PretrainBudget(image_size=28), FAST_EVAL,
                        methods={"counted": _recording(calls, "counted")})
    (out / "results.json").unlink()  # as if the run had died after pretraining, before its tables
    for name in ("records.csv", "summary.csv", "results.md", "results.png"):
        (out / name).unlink()
    compare_pretraining(sample_datalist_path(), out, config, PretrainBudget(image_size=28), FAST_EVAL,
                        methods={"counted": _recording(calls, "counted")})
    assert len(calls) == 1


def test_bad_method_name_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"Unknown pretraining method 'dino'; valid methods are \['random', 'ssl'"):
        compare_pretraining(sample_datalist_path(), tmp_path / "run", CompareConfig(methods=("ssl", "dino")))
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=r"reference='ssl' is not compared; valid values are \['random'\]"):
        CompareConfig(methods=("random",))
    with pytest.raises(ValueError, match="unknown \\['probe'\\]; valid values are"):
        FrozenEvalConfig(evaluations=("probe",))


def test_tiny_end_to_end_random_vs_ssl_on_the_sample_data(tmp_path: Path) -> None:
    """The real SSL engine for a few steps, then every evaluation (linear probe, metadata, segmentation, retrieval)."""
    out = tmp_path / "run"
    results = compare_pretraining(
        sample_datalist_path(), out, CompareConfig(encoder="tiny_vit_p14", seeds=(0,)),
        PretrainBudget(steps=3, batch_size=8, image_size=56, num_workers=0),
        FrozenEvalConfig(eval_image_size=56, metadata_attributes=("view_group", "sex"),
                         linear_probe_options={"augment": False, "label_fractions": (1.0,), "epochs": 3},
                         segmentation_options={"head": "linear", "epochs": 1, "batch_size": 8}),
    )
    assert results["pretraining"]["ssl"][0]["iterations"] == 3 and results["pretraining"]["ssl"][0]["images_seen"] == 24
    assert results["pretraining"]["random"][0]["iterations"] == 0
    tasks = {(r["method"], r["task"]) for r in results["records"]}
    assert tasks == {(m, t) for m in ("random", "ssl")
                     for t in ("linear_probe", "metadata_probe", "segmentation", "retrieval")}
    assert all(0.0 <= r["value"] <= 1.0 for r in results["records"])
    assert (out / "seed_0" / "ssl" / "encoder_hf" / "model.safetensors").is_file()
    assert "ssl − random (paired)" in (out / "results.md").read_text()


@pytest.mark.slow
def test_cli_runs_and_rejects_bad_method(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    bad = subprocess.run([sys.executable, str(ROOT / "tools" / "compare_pretraining.py"), str(sample_datalist_path()),
                          "--output_dir", str(tmp_path / "bad"), "--methods", "[random,byol]"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "valid methods are ['random', 'ssl', 'convirt', 'ecamp']" in bad.stderr
    ok = subprocess.run([sys.executable, str(ROOT / "tools" / "compare_pretraining.py"), str(sample_datalist_path()),
                         "--output_dir", str(tmp_path / "ok"), "--methods", "random", "--reference", "random",
                         "--encoder", "tiny_vit_p14", "--evaluations", "retrieval", "--eval_image_size", "28"],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "retrieval / image_to_image / precision@5" in ok.stdout


def test_rerun_reuses_finished_evaluations_only_when_nothing_changed(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    config = CompareConfig(methods=("random",), reference="random", encoder="tiny_vit_p14")
    evaluated: list[int] = []
    real = frozen_evaluations.evaluate_frozen

    def counting(encoder, items, evaluation, seed=0, work_dir=None):  # noqa: ANN001, ANN202
        evaluated.append(seed)
        return real(encoder, items, evaluation, seed, work_dir)

    monkeypatch.setattr("raddino_monai.experiments.compare_pretraining.evaluate_frozen", counting)

    def run(cfg: CompareConfig, evaluation: FrozenEvalConfig) -> dict:
        for name in ("results.json", "records.csv", "summary.csv", "results.md", "results.png"):
            (out / name).unlink(missing_ok=True)  # as if the run had died before its tables
        return compare_pretraining(sample_datalist_path(), out, cfg, PretrainBudget(image_size=28), evaluation)

    first = run(config, FAST_EVAL)
    again = run(config, FAST_EVAL)
    assert evaluated == [0] and again["records"] == first["records"]
    run(dataclasses.replace(config, seeds=(0, 1)), FAST_EVAL)  # one more seed: only it is evaluated
    assert evaluated == [0, 1]
    run(config, dataclasses.replace(FAST_EVAL, retrieval_ks=(5,)))  # other settings: evaluated again
    assert evaluated == [0, 1, 0]

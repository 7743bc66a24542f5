"""ssl_evidence on a tiny generated datalist: runs end to end and reports throughput and both probes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raddino_monai.experiments.ssl_evidence import (
    format_evidence,
    probe_encoders,
    pretrain_tiny,
    probe_items,
    ssl_evidence,
)
from raddino_monai.engines.ssl_trainer import SSLTrainer
from raddino_monai.ssl import SSLConfig


def test_probe_items_and_grouped_probe() -> None:
    items = [{"view": "AP Supine", "sex": "F"}, {"view": "x", "sex": "M"}, {"view": "L", "sex": None}]
    assert [it["view_group"] for it in probe_items(items)] == ["AP", None, "LATERAL"]
    assert [it["sex"] for it in probe_items(items)] == ["F", "M", None]
    rng = np.random.default_rng(0)
    sex = np.repeat(["F", "M"], 40)
    x = rng.normal(size=(80, 4)) + (sex == "F")[:, None] * 3.0
    grouped = probe_items([{"sex": s, "view": "PA", "patient_id": i // 2} for i, s in enumerate(sex)])
    probes, skipped = probe_encoders({"enc": x, "noise": rng.normal(size=(80, 4))}, grouped)
    assert set(probes) == {"sex"} and "1 classes" in skipped["view"]
    assert probes["sex"]["enc"]["mean"] > 0.9 and probes["sex"]["enc"]["chance"] == 0.5
    assert probes["sex"]["enc"]["n_patients"] == 40 and len(probes["sex"]["noise"]["accuracy"]) == 5


def _write_datalist(folder: Path, n: int, shape: tuple[int, int], seed: int) -> Path:
    """``n`` noise PNGs, two images per patient, PA/AP views and sexes alternating by patient."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(folder / f"{i}.png")
        items.append({"image": f"{i}.png", "patient_id": str(i // 2), "view": ["PA", "AP"][i // 2 % 2],
                      "sex": "MF"[i // 4 % 2]})
    (folder / "datalist.json").write_text(json.dumps({"training": items}))
    return folder / "datalist.json"


@pytest.mark.slow
def test_ssl_evidence_runs(tmp_path) -> None:
    _write_datalist(tmp_path, 24, (64, 56), seed=0)
    recipe = {"loss": {"centering": "sinkhorn_knopp"}, "backbone": {"overrides": {"layerscale_value": 0.5}}}
    results = ssl_evidence(tmp_path / "datalist.json", tmp_path / "out", max_iters=4, batch_size=8, num_workers=0,
                           recipe=recipe)
    assert results["recipe"]["loss"]["centering"] == "sinkhorn_knopp"
    assert results["recipe"]["backbone"]["overrides"] == {"layerscale_value": 0.5}
    assert results["pretraining"]["iterations"] == 4 and results["pretraining"]["images_per_s"] > 0
    assert set(results["probes"]) == {"view", "sex"}
    assert (tmp_path / "out" / "results.png").is_file()
    assert (tmp_path / "out" / "teacher_hf" / "model.safetensors").is_file()
    assert "images/s" in format_evidence(results) and "sex probe" in format_evidence(results)


def test_pretrain_tiny_uses_recipe_precision_and_clipping(tmp_path, monkeypatch) -> None:
    # regression: pretrain_tiny built SSLTrainer with its defaults (bf16, clip 3.0) whatever the recipe said
    seen: dict[str, object] = {}

    class Spy(SSLTrainer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seen.update(precision=self.precision, clip_grad=self.clip_grad)

    monkeypatch.setattr("raddino_monai.experiments.ssl_evidence.SSLTrainer", Spy)
    datalist = _write_datalist(tmp_path, 8, (48, 48), seed=2)
    items = [{**it, "image": str(tmp_path / it["image"])} for it in json.loads(datalist.read_text())["training"]]
    config = SSLConfig.tiny().replace(precision="fp32", optim={"clip_grad": 1.5})
    _, stats = pretrain_tiny(items, tmp_path / "out", max_iters=1, batch_size=4, num_workers=0, config=config)
    assert seen == {"precision": "fp32", "clip_grad": 1.5} and stats["iterations"] == 1


@pytest.mark.slow
def test_ssl_evidence_cli_seeds(tmp_path) -> None:
    datalist = _write_datalist(tmp_path, 20, (48, 48), seed=1)
    tool = Path(__file__).resolve().parents[2] / "tools" / "ssl_evidence.py"
    out = subprocess.run([sys.executable, str(tool), "--datalist", str(datalist), "--output_dir",
                          str(tmp_path / "out"), "--seeds", "[0,1]", "--max_iters", "2", "--batch_size", "8",
                          "--num_workers", "0", "--probe_size", "32"], capture_output=True, text=True, check=True)
    assert "seed 1:" in out.stdout and "2 seeds" in out.stdout and "one-sided sign test p = " in out.stdout
    assert out.stdout.index("seed 0:") < out.stdout.index("seed 1:") < out.stdout.index("2 seeds")
    combined = json.loads((tmp_path / "out" / "combined.json").read_text())
    assert combined["n_seeds"] == 2 and len(combined["probes"]["view"]["pretrained"]["per_seed"]) == 2
    assert (tmp_path / "out" / "seed_0" / "results.json").is_file() and (tmp_path / "out" / "seed_1").is_dir()


@pytest.mark.slow
def test_ssl_evidence_probe_curve(tmp_path) -> None:
    _write_datalist(tmp_path, 24, (64, 56), seed=3)
    results = ssl_evidence(tmp_path / "datalist.json", tmp_path / "out", max_iters=4, batch_size=8, num_workers=0,
                           probe_size=32, probe_every=2, crops={"global_size": 32, "local_size": 16})
    assert [point["iteration"] for point in results["curve"]] == [2, 4]
    assert results["crops"]["global_size"] == 32
    final = results["curve"][-1]["probes"]["view"]
    assert final["auroc_mean"] == results["probes"]["view"]["pretrained"]["auroc_mean"]
    assert set(results["curve"][0]["probes"]) == {"view", "sex"}
    assert (tmp_path / "out" / "curve.png").is_file()
    assert "view probe AUROC of the teacher by iteration: 2: " in format_evidence(results)


@pytest.mark.slow
def test_heldout_mode_pretrains_on_other_patients_and_probes_only_the_held_out(tmp_path, monkeypatch) -> None:
    datalist = _write_datalist(tmp_path, 48, (48, 48), seed=4)
    import raddino_monai.experiments.ssl_evidence as module

    seen: dict[str, list] = {}
    real_pretrain, real_probe = module.pretrain_tiny, module.probe_encoders

    def pretrain_spy(items, *args, **kwargs):  # noqa: ANN001, ANN202
        seen["pretrain"] = [it["image"] for it in items]
        return real_pretrain(items, *args, **kwargs)

    def probe_spy(features, items, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.setdefault("probe_patients", []).append({it["patient_id"] for it in items})
        return real_probe(features, items, *args, **kwargs)

    monkeypatch.setattr(module, "pretrain_tiny", pretrain_spy)
    monkeypatch.setattr(module, "probe_encoders", probe_spy)
    results = ssl_evidence(datalist, tmp_path / "out", max_iters=2, batch_size=8, num_workers=0, probe_size=32,
                           crops={"global_size": 32, "local_size": 16}, heldout_fraction=0.5)
    assert results["pretraining_mode"] == "held_out_patients"
    assert results["n_pretrain_images"] == len(seen["pretrain"]) == 24 and results["n_probe_images"] == 24
    pretrained_patients = {Path(p).stem for p in seen["pretrain"]}
    pretrained_patients = {str(int(s) // 2) for s in pretrained_patients}  # two images per patient in the datalist
    assert seen["probe_patients"][0].isdisjoint(pretrained_patients) and len(seen["probe_patients"][0]) == 12
    assert results["probes"]["view"]["pretrained"]["n_images"] == 24
    assert "mode held_out_patients: pretrained on 24 images, probed 24 (held-out patients" in format_evidence(results)


def test_default_mode_is_all_images_and_says_so() -> None:
    results = {"pretraining": {"iterations": 1.0, "images_per_s": 1.0, "data_wait_share": 0.0, "final_loss": 1.0},
               "probes": {}, "n_images": 10}
    assert format_evidence(results).startswith("mode all_images: pretrained on 10 images, probed 10 (the same images)")

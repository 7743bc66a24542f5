"""A ready-to-serve report bundle from a trained report model folder: the checks, a real bundle run, no overwrite,
no pickles, and ``tools/report.py train --bundle_dir``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from monai.bundle import run

from raddino_monai.report import EncoderReference, read_reports, save_report_model
from raddino_monai.serving.bundle_export import BundleExportError, verify_bundle
from raddino_monai.serving.report_bundle import export_report_bundle

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "raddino_monai" / "sample_data" / "images").glob("*.png"))[:2]
sys.path.insert(0, str(ROOT / "tests"))
from report.helpers import build_model, make_lm_folder  # noqa: E402


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = build_model(make_lm_folder(tmp_path / "lm", "gpt2"), feature_dim=192)
    model.encoder_ref = EncoderReference(arch="tiny_vit_p14", image_size=28)
    yield save_report_model(model, tmp_path / "run" / "model")
    torch.set_num_threads(threads)


def test_export_checks_and_runs(model_dir: Path, tmp_path: Path) -> None:
    bundle = export_report_bundle(model_dir, tmp_path / "bundles" / "raddino_cxr_report")
    assert (bundle / "models" / "report_model" / "report_config.json").is_file()
    assert not (bundle / "models" / "model.pt").exists()
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert meta["network_data_format"]["inputs"]["image"]["spatial_shape"] == [28, 28]
    assert meta["network_data_format"]["outputs"]["pred"]["format"] == "text"
    assert meta["raddino_export"]["encoder_arch"] == "tiny_vit_p14" and meta["raddino_export"]["mode"] == "projector"
    checks = verify_bundle(bundle)
    assert checks["verify_metadata"] == "ok" and checks["network_def"] == "ok" and checks["weights_only"] == "ok"
    assert checks["check_properties/infer"] == "ok" and checks["verify_net_in_out"].startswith("skipped")
    (bundle / "data").mkdir()
    for p in SAMPLES:
        shutil.copy(p, bundle / "data" / p.name)
    run(run_id="run", bundle_root=str(bundle), config_file=str(bundle / "configs" / "inference.json"),
        meta_file=str(bundle / "configs" / "metadata.json"), logging_file=str(bundle / "configs" / "logging.conf"))
    assert [r["id"] for r in read_reports(bundle / "eval" / "reports.csv")] == [p.name for p in SAMPLES]
    with pytest.raises(FileExistsError, match="already exists"):
        export_report_bundle(model_dir, bundle)


def test_export_refuses_pickles_and_non_models(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleExportError, match="not a report model folder"):
        export_report_bundle(tmp_path, tmp_path / "b1")
    torch.save({"x": torch.zeros(1)}, model_dir / "extra.pt")
    with pytest.raises(BundleExportError, match=r"report_model/extra.pt'\] would need unpickling"):
        export_report_bundle(model_dir, tmp_path / "b2")
    assert not (tmp_path / "b2").exists() and not list(tmp_path.glob(".b2.*"))  # the partial copy is removed


def test_report_tool_train_writes_the_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import fire

    spec = importlib.util.spec_from_file_location("tools_report", ROOT / "tools" / "report.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    items = [{"image": str(p), "report": "No effusion. The lungs are clear."} for p in SAMPLES]
    (tmp_path / "d.json").write_text(json.dumps({"training": items}))
    (tmp_path / "b").mkdir()
    with pytest.raises(FileExistsError):  # checked before training
        fire.Fire(tool.COMMANDS, command=["train", "--datalist", str(tmp_path / "d.json"), "--lm", "x",
                                          "--output_dir", str(tmp_path / "r"), "--bundle_dir", str(tmp_path / "b")])
    lm = make_lm_folder(tmp_path / "lm", "gpt2")
    out = fire.Fire(tool.COMMANDS, command=[
        "train", "--datalist", str(tmp_path / "d.json"), "--lm", str(lm), "--output_dir", str(tmp_path / "run"),
        "--encoder_arch", "tiny_vit_p14", "--encoder_image_size", "28", "--mode", "projector", "--epochs", "1",
        "--global_batch_size", "2", "--micro_batch_size", "2", "--template", "plain", "--model_max_length", "64",
        "--bundle_dir", str(tmp_path / "bundle")])
    assert out == str(tmp_path / "run" / "model")
    assert json.loads((tmp_path / "bundle" / "configs" / "metadata.json").read_text())["raddino_export"]["mode"] \
        == "projector"

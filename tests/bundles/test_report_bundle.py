"""The report bundle: metadata schema, inference properties, a tiny run writing ``id,report`` rows, and the
single-image flow a MONAI Label infer task uses (preprocessing -> inferer -> one string under ``pred``).

No weights are committed: each test writes a tiny report model (tiny_vit_p14 at 28 px + a random-init GPT-2) into
``models/report_model`` of a copied bundle.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow, run, verify_metadata

from raddino_monai.report import EncoderReference, read_reports, save_report_model

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "raddino_cxr_report"
SCHEMA = ROOT / "bundles" / "schema" / "meta_schema_20240725.json"
SAMPLES = sorted((ROOT / "raddino_monai" / "sample_data" / "images").glob("*.png"))[:3]
sys.path.insert(0, str(ROOT / "tests"))
from report.helpers import build_model, make_lm_folder  # noqa: E402


def _configs(bundle: Path) -> dict[str, str]:
    return {"config_file": str(bundle / "configs" / "inference.json"),
            "meta_file": str(bundle / "configs" / "metadata.json"),
            "logging_file": str(bundle / "configs" / "logging.conf")}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models are latency-bound: one torch thread avoids two threads waiting on each other on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "raddino_cxr_report"
    shutil.copytree(BUNDLE, bundle)
    model = build_model(make_lm_folder(tmp_path / "lm", "gpt2"), feature_dim=192)
    model.encoder_ref = EncoderReference(arch="tiny_vit_p14", image_size=28)
    save_report_model(model, bundle / "models" / "report_model")
    (bundle / "data").mkdir()
    for p in SAMPLES:
        shutil.copy(p, bundle / "data" / p.name)
    return bundle


def test_layout_and_metadata() -> None:
    for rel in ("LICENSE", "configs/metadata.json", "configs/inference.json", "configs/logging.conf", "docs/README.md"):
        assert (BUNDLE / rel).is_file(), rel
    assert not (BUNDLE / "models").exists()  # weights are never committed
    verify_metadata(meta_file=str(BUNDLE / "configs" / "metadata.json"), filepath=str(SCHEMA))
    meta = ConfigParser.load_config_file(BUNDLE / "configs" / "metadata.json")
    assert set(meta["network_data_format"]["inputs"]) == {"image"}
    assert set(meta["network_data_format"]["outputs"]) == {"pred"}
    assert meta["network_data_format"]["outputs"]["pred"]["format"] == "text"  # the MONAI Label app's report task
    assert "post_processed_outputs" not in meta["network_data_format"]


def test_infer_properties(tiny_bundle: Path) -> None:
    workflow = ConfigWorkflow(workflow_type="infer", bundle_root=str(tiny_bundle), **_configs(tiny_bundle))
    workflow.initialize()
    assert workflow.check_properties() == []


def test_tiny_run_writes_one_report_per_image(tiny_bundle: Path) -> None:
    run(run_id="run", bundle_root=str(tiny_bundle), **_configs(tiny_bundle))
    rows = read_reports(tiny_bundle / "eval" / "reports.csv")
    assert [r["id"] for r in rows] == [p.name for p in SAMPLES]  # ids relative to dataset_dir, in file order
    assert all(isinstance(r["report"], str) for r in rows)
    assert not list((tiny_bundle / "eval").glob("*.parts.jsonl"))
    with pytest.raises(RuntimeError) as err:  # a second run never overwrites the output (MONAI wraps the error)
        run(run_id="run", bundle_root=str(tiny_bundle), **_configs(tiny_bundle))
    assert isinstance(err.value.__cause__, FileExistsError) and "reports.csv exists" in str(err.value.__cause__)
    run(run_id="run", bundle_root=str(tiny_bundle), overwrite=True, batch_size=1, **_configs(tiny_bundle))
    assert read_reports(tiny_bundle / "eval" / "reports.csv") == rows  # batching does not change greedy reports


def test_single_image_flow_as_in_monai_label(tiny_bundle: Path) -> None:
    parser = ConfigParser()
    parser.read_config(tiny_bundle / "configs" / "inference.json")
    parser.update({"bundle_root": str(tiny_bundle), "device": "$torch.device('cpu')"})
    pre, inferer = (parser.get_parsed_content(k) for k in ("preprocessing", "inferer"))
    network = parser.get_parsed_content("network")
    data = pre({"image": str(SAMPLES[0])})
    assert tuple(data["image"].shape) == (3, 28, 28)
    texts = inferer(data["image"][None], network)
    assert isinstance(texts, list) and len(texts) == 1 and isinstance(texts[0], str) and texts[0]
    run(run_id="run", bundle_root=str(tiny_bundle), **_configs(tiny_bundle))
    rows = {r["id"]: r["report"] for r in read_reports(tiny_bundle / "eval" / "reports.csv")}
    assert rows[SAMPLES[0].name] == texts[0]

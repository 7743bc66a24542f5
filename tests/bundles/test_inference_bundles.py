"""The inference bundles (embeddings, classification, segmentation): metadata schema, properties, net I/O, a tiny run.

Weights are never committed: each test copies a bundle to a temp dir and writes a tiny random ``models/model.pt``.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow, run, verify_metadata, verify_net_in_out
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "bundles" / "schema" / "meta_schema_20240725.json"
SAMPLES = sorted((ROOT / "raddino_monai" / "sample_data" / "images").glob("*.png"))[:2]

#: bundle -> overrides giving a tiny CPU network (tiny_vit_p14 at 28 px)
TINY: dict[str, dict[str, Any]] = {
    "raddino_cxr_embeddings": {"arch": "tiny_vit_p14", "image_size": 28},
    "raddino_cxr_classification": {"arch": "tiny_vit_p14", "image_size": 28},
    "raddino_cxr_segmentation": {"arch": "tiny_vit_p14", "image_size": 28,
                                 "head_kwargs": {"channels": 8, "neck_channels": 8}},
}
#: bundle -> metadata overrides matching the tiny network
TINY_META: dict[str, dict[str, Any]] = {
    "raddino_cxr_embeddings": {"_meta_#network_data_format#outputs#pred#num_channels": 192},
    "raddino_cxr_classification": {},
    "raddino_cxr_segmentation": {"_meta_#network_data_format#outputs#pred#spatial_shape": [28, 28]},
}


def _configs(bundle: Path) -> dict[str, str]:
    return {"config_file": str(bundle / "configs" / "inference.json"),
            "meta_file": str(bundle / "configs" / "metadata.json"),
            "logging_file": str(bundle / "configs" / "logging.conf")}


def _tiny_bundle(name: str, tmp_path: Path) -> Path:
    bundle = tmp_path / name
    shutil.copytree(ROOT / "bundles" / name, bundle)
    parser = ConfigParser()
    parser.read_config(bundle / "configs" / "inference.json")
    parser.update(TINY[name])
    net = parser.get_parsed_content("network_def")
    (bundle / "models").mkdir(exist_ok=True)
    torch.save({"model": net.state_dict()}, bundle / "models" / "model.pt")
    data = bundle / "data"
    data.mkdir()
    for p in SAMPLES:
        shutil.copy(p, data / p.name)
    return bundle


@pytest.mark.parametrize("name", sorted(TINY))
def test_layout_and_metadata(name: str, tmp_path: Path) -> None:
    bundle = ROOT / "bundles" / name
    for rel in ("LICENSE", "configs/metadata.json", "configs/inference.json", "configs/logging.conf", "docs/README.md"):
        assert (bundle / rel).is_file(), rel
    assert not (bundle / "models" / "model.pt").exists()  # weights are never committed
    verify_metadata(meta_file=str(bundle / "configs" / "metadata.json"), filepath=str(SCHEMA))
    meta = ConfigParser.load_config_file(bundle / "configs" / "metadata.json")
    assert set(meta["network_data_format"]["inputs"]) == {"image"}
    assert set(meta["network_data_format"]["outputs"]) == {"pred"}
    assert "changelog" in meta and "required_packages_version" in meta


@pytest.mark.parametrize("name", sorted(TINY))
def test_infer_properties(name: str, tmp_path: Path) -> None:
    bundle = _tiny_bundle(name, tmp_path)
    workflow = ConfigWorkflow(workflow_type="infer", bundle_root=str(bundle), **_configs(bundle), **TINY[name])
    workflow.initialize()
    assert workflow.check_properties() == []


@pytest.mark.parametrize("name", sorted(TINY))
def test_net_in_out_tiny(name: str) -> None:
    bundle = ROOT / "bundles" / name
    overrides = {**TINY[name], **TINY_META[name],
                 "_meta_#network_data_format#inputs#image#spatial_shape": [28, 28]}
    verify_net_in_out(net_id="network_def", meta_file=_configs(bundle)["meta_file"],
                      config_file=_configs(bundle)["config_file"], device="cpu", **overrides)


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_inference_run(name: str, tmp_path: Path) -> None:
    bundle = _tiny_bundle(name, tmp_path)
    run(run_id="run", bundle_root=str(bundle), **_configs(bundle), **TINY[name])
    out = bundle / "eval"
    if name == "raddino_cxr_segmentation":
        masks = sorted(out.glob("*_seg.png"))
        assert len(masks) == len(SAMPLES)
        for mask, src in zip(masks, SAMPLES):
            with Image.open(mask) as m, Image.open(src) as s:
                assert m.size == s.size and set(np.unique(np.asarray(m)).tolist()) <= {0, 255}
    else:
        rows = list(csv.reader(open(next(out.glob("*.csv")))))
        assert len(rows) == len(SAMPLES)
        width = {"raddino_cxr_embeddings": 192, "raddino_cxr_classification": 3}[name]
        assert len(rows[0]) == 1 + width and Path(rows[0][0]).name in {p.name for p in SAMPLES}
        if name == "raddino_cxr_classification":
            assert sum(float(v) for v in rows[0][1:]) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name", ["raddino_cxr_classification", "raddino_cxr_segmentation"])
def test_ckpt_export_trace(name: str, tmp_path: Path) -> None:
    from monai.bundle import ckpt_export

    bundle = _tiny_bundle(name, tmp_path)
    ts = bundle / "models" / "model.ts"
    ckpt_export(net_id="network_def", filepath=str(ts), ckpt_file=str(bundle / "models" / "model.pt"),
                key_in_ckpt="model", meta_file=_configs(bundle)["meta_file"],
                config_file=_configs(bundle)["config_file"],
                use_trace=True, input_shape=[1, 3, 28, 28], bundle_root=str(bundle), **TINY[name])
    scripted = torch.jit.load(str(ts))
    x = torch.rand(1, 3, 28, 28)
    parser = ConfigParser()
    parser.read_config(bundle / "configs" / "inference.json")
    parser.update(TINY[name])
    net = parser.get_parsed_content("network_def").eval()
    net.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True)["model"])
    torch.testing.assert_close(scripted(x), net(x), atol=1e-4, rtol=1e-4)

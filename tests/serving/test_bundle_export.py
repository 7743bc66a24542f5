"""Ready-to-serve bundle copies from trained heads: MONAI's verifiers, tensor-only weights, round trip, a real run."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import fire
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow, run, verify_metadata, verify_net_in_out
from PIL import Image
from torch import nn

from raddino_monai.evaluation import FrozenSegmentationModel, LinearProbeConfig, ProbeClassifier, SegmentationConfig
from raddino_monai.evaluation.runners import save_segmentation_checkpoint
from raddino_monai.models import create_backbone
from raddino_monai.serving.bundle_export import (
    BundleExportError,
    export_classification_bundle,
    export_segmentation_bundle,
    verify_bundle,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "bundles" / "schema" / "meta_schema_20240725.json"
SAMPLES = sorted((ROOT / "raddino_monai" / "sample_data" / "images").glob("*.png"))[:2]
TINY_HEAD = {"channels": 8, "neck_channels": 8}
CLASSES = ["COVID-19", "No Finding", "Pneumocystis"]


def _files(bundle: Path) -> dict[str, str]:
    return {"meta_file": str(bundle / "configs" / "metadata.json"),
            "logging_file": str(bundle / "configs" / "logging.conf")}


def _classification_bundle(tmp_path: Path, task: str = "multiclass") -> tuple[Path, nn.Linear]:
    config = LinearProbeConfig(task=task, image_size=28, pooling="cls_patchmean")
    head = nn.Linear(2 * 192, 1 if task == "binary" else 3)
    torch.nn.init.normal_(head.weight, std=0.5)
    names = ["positive"] if task == "binary" else CLASSES
    return export_classification_bundle(head, "tiny_vit_p14", config, names, tmp_path / "cls"), head


def _segmentation_checkpoint(tmp_path: Path, mask_mode: str = "multiclass") -> Path:
    names = ["background", "lung"] if mask_mode == "multiclass" else ["left", "right"]
    config = SegmentationConfig(head="upernet", head_kwargs=TINY_HEAD, image_size=28, mask_mode=mask_mode,
                                class_names=names)
    model = FrozenSegmentationModel("tiny_vit_p14", "upernet", 2, head_kwargs=TINY_HEAD)
    return save_segmentation_checkpoint(model, config, "tiny_vit_p14", tmp_path / "seg" / "model.pt")


def test_classification_bundle_checks_and_metadata(tmp_path: Path) -> None:
    bundle, head = _classification_bundle(tmp_path)
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    pred = meta["network_data_format"]["outputs"]["pred"]
    assert pred["channel_def"] == {"0": "COVID-19", "1": "No Finding", "2": "Pneumocystis"}
    assert pred["num_channels"] == 3 and meta["network_data_format"]["inputs"]["image"]["spatial_shape"] == [28, 28]
    assert meta["raddino_export"]["encoder"] == "tiny_vit_p14" and meta["raddino_export"]["task"] == "multiclass"
    config = json.loads((bundle / "configs" / "inference.json").read_text())
    assert (config["arch"], config["num_classes"], config["image_size"]) == ("tiny_vit_p14", 3, 28)
    assert (config["pooling"], config["activation"]) == ("cls_patchmean", "softmax")
    # MONAI's own verifiers, called directly on the written files
    verify_metadata(meta_file=_files(bundle)["meta_file"], filepath=str(SCHEMA))
    verify_net_in_out(net_id="network_def", config_file=str(bundle / "configs" / "inference.json"), device="cpu",
                      bundle_root=str(bundle), meta_file=_files(bundle)["meta_file"])
    wf = ConfigWorkflow(workflow_type="infer", config_file=str(bundle / "configs" / "inference.json"),
                        bundle_root=str(bundle), **_files(bundle))
    wf.initialize()
    assert wf.check_properties() == []
    assert set(verify_bundle(bundle).values()) == {"ok"}
    # weights: tensor-only, under "model", and they are the trained head's
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert set(state) == {"model"} and all(isinstance(v, torch.Tensor) for v in state["model"].values())
    torch.testing.assert_close(state["model"]["head.weight"], head.weight.detach())


def test_classification_round_trip_matches_direct_forward(tmp_path: Path) -> None:
    bundle, head = _classification_bundle(tmp_path)
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    net = parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True)["model"])
    torch.manual_seed(0)
    direct = ProbeClassifier(create_backbone("tiny_vit_p14"), 3, "cls_patchmean")
    direct.load_state_dict(net.state_dict())
    x = torch.rand(2, 3, 28, 28)
    torch.testing.assert_close(net.eval()(x), direct.eval()(x))
    # the backbone in the bundle is the encoder spec's (random init seeded 0 by load_encoder_backbone)
    torch.manual_seed(0)
    reference = create_backbone("tiny_vit_p14")
    ref_w = reference.state_dict()
    for key, value in net.encoder.backbone.state_dict().items():
        torch.testing.assert_close(value, ref_w[key])
    # the head's logits are the exported layer applied to the pooled features
    feats = net.encoder(x)
    torch.testing.assert_close(net(x), head(feats))


@pytest.mark.parametrize("task,activation", [("binary", "sigmoid"), ("multilabel", "sigmoid")])
def test_classification_activation_per_task(task: str, activation: str, tmp_path: Path) -> None:
    bundle, _ = _classification_bundle(tmp_path, task)
    assert json.loads((bundle / "configs" / "inference.json").read_text())["activation"] == activation


def test_classification_bundle_runs(tmp_path: Path) -> None:
    bundle, _ = _classification_bundle(tmp_path)
    data = bundle / "data"
    data.mkdir()
    for p in SAMPLES:
        (data / p.name).write_bytes(p.read_bytes())
    run(run_id="run", config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
        **_files(bundle))
    rows = list(csv.reader(open(bundle / "eval" / "predictions.csv")))
    assert len(rows) == 2 and len(rows[0]) == 4
    assert sum(float(v) for v in rows[0][1:]) == pytest.approx(1.0, abs=1e-4)


def test_existing_bundle_dir_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        _classification_bundle(tmp_path)
    assert (tmp_path / "cls" / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["cls"]  # no staging folder left behind


def test_segmentation_bundle_checks_train_config_and_run(tmp_path: Path) -> None:
    ckpt = _segmentation_checkpoint(tmp_path)
    bundle = export_segmentation_bundle(ckpt, tmp_path / "segb")
    report = verify_bundle(bundle)
    assert report["check_properties/train"] == "ok" and report["check_properties/infer"] == "ok"
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    pred = meta["network_data_format"]["outputs"]["pred"]
    assert pred["channel_def"] == {"0": "background", "1": "lung"} and pred["spatial_shape"] == [28, 28]
    for name in ("inference.json", "train.json"):
        config = json.loads((bundle / "configs" / name).read_text())
        assert (config["arch"], config["head_kwargs"], config["layer_indices"]) == ("tiny_vit_p14", TINY_HEAD,
                                                                                   [2, 3, 5, 6])
    saved = torch.load(ckpt, weights_only=True)["model"]
    exported = torch.load(bundle / "models" / "model.pt", weights_only=True)["model"]
    assert saved.keys() == exported.keys() and all(torch.equal(saved[k], exported[k]) for k in saved)
    data = bundle / "data"
    data.mkdir()
    for p in SAMPLES:
        (data / p.name).write_bytes(p.read_bytes())
    run(run_id="run", config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
        **_files(bundle))
    for src in SAMPLES:
        with Image.open(bundle / "eval" / f"{src.stem}_seg.png") as m, Image.open(src) as s:
            assert m.size == s.size and set(np.unique(np.asarray(m)).tolist()) <= {0, 255}


def test_multilabel_segmentation_head_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleExportError, match="multiclass"):
        export_segmentation_bundle(_segmentation_checkpoint(tmp_path, "multilabel"), tmp_path / "segb")
    assert not (tmp_path / "segb").exists()


def _tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tools_write_servable_bundles(tmp_path: Path) -> None:
    fire.Fire(_tool("linear_probe").main, command=[
        "--encoder", "tiny_vit_p14", "--output_dir", str(tmp_path / "lp"), "--task", "multiclass", "--image_size", "28",
        "--epochs", "1",
        "--seeds", "[0]", "--label_fractions", "[1.0]", "--augment", "False", "--bundle_dir", str(tmp_path / "cls")])
    assert set(verify_bundle(tmp_path / "cls").values()) == {"ok"}
    fire.Fire(_tool("segment").train, command=[
        "--encoder", "tiny_vit_p14", "--output_dir", str(tmp_path / "seg"), "--image_size", "28", "--epochs", "1",
        "--batch_size", "64", "--augment", "False", "--head_kwargs", json.dumps(TINY_HEAD),
        "--bundle_dir", str(tmp_path / "segb")])
    assert set(verify_bundle(tmp_path / "segb").values()) == {"ok"}
    with pytest.raises(FileExistsError):  # refused before training starts
        fire.Fire(_tool("segment").train, command=["--encoder", "tiny_vit_p14", "--bundle_dir", str(tmp_path / "segb")])

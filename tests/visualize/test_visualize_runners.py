"""Path-level runs on the embedded sample data with a tiny random-init encoder, and the CLIs behind them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import fire
import numpy as np
import pytest
import torch

from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.visualize import runners

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"tools_{name}", REPO / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_runs(sample_images, tmp_path, check_png):
    check_png(runners.pca_job(sample_images, tmp_path / "pca.png", "tiny_vit_p14", image_size=56))
    check_png(runners.attention_job(sample_images[0], tmp_path / "att.png", "tiny_vit_p14", image_size=56))
    check_png(runners.correspondence_job(sample_images[0], sample_images[1], tmp_path / "corr.png", "tiny_vit_p14",
                                         image_size=56))


def test_datalist_features_are_the_backbones_cls_in_item_order(tmp_path):
    items, features = runners.datalist_features(sample_datalist_path(), tmp_path, ["tiny_vit_p14", "tiny_vit_p14"],
                                                split="test", image_size=28)
    assert list(features) == ["tiny_vit_p14", "tiny_vit_p14#2"]  # repeated specs get distinct labels
    assert features["tiny_vit_p14"].shape == (len(items), 192)
    backbone = runners.load_encoders(["tiny_vit_p14"])["tiny_vit_p14"]
    x = runners.load_images([items[2]["image"]], 28)
    with torch.no_grad():
        np.testing.assert_allclose(features["tiny_vit_p14"][2], backbone(x)[0].numpy(), atol=1e-5)
    # the written file can be reused instead of running the encoder again
    _, again = runners.datalist_features(sample_datalist_path(), tmp_path / "b", embeddings=[
        str(tmp_path / "embeddings" / "tiny_vit_p14.npz")], split="test")
    np.testing.assert_array_equal(again["tiny_vit_p14"], features["tiny_vit_p14"])
    with pytest.raises(ValueError, match="have no embedding"):
        runners.datalist_features(sample_datalist_path(), tmp_path / "c", embeddings=[
            str(tmp_path / "embeddings" / "tiny_vit_p14.npz")], split="training")


def test_embedding_map_and_neighbour_runs(tmp_path, check_png):
    maps = runners.embedding_map_job(sample_datalist_path(), tmp_path, ["tiny_vit_p14", "tiny_vit_p16"],
                                     keys=["view", "sex"], image_size=28)
    assert set(maps) == {"pca", "tsne"}
    for path in maps.values():
        check_png(path, min_side=400)
    grids = runners.neighbours_job(sample_datalist_path(), tmp_path, embeddings=[
        str(tmp_path / "embeddings" / "tiny_vit_p14.npz")], label_key="view", k=3, n_queries=3)
    check_png(grids["tiny_vit_p14"], min_side=300)


def test_exclusion_mask_groups_by_patient_and_never_by_accident():
    items = [{"patient_id": "3"}, {"patient_id": "3"}, {"patient_id": None}, {}, {"patient_id": "7"}]
    mask = runners.exclusion_mask(items, "patient_id")
    expected = np.eye(5, dtype=bool)
    expected[0, 1] = expected[1, 0] = True  # same patient; the items without an id exclude only themselves
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(runners.exclusion_mask(items, None), np.eye(5, dtype=bool))


def test_segment_evaluate_writes_the_figure(tmp_path, check_png):
    seg = _tool("segment")
    fire.Fire(seg.train, command=["--encoder", "tiny_vit_p14", "--output_dir", str(tmp_path / "seg"), "--head",
                                  "linear", "--image_size", "28", "--epochs", "1", "--batch_size", "64",
                                  "--augment", "False"])
    fire.Fire(seg.evaluate, command=["--checkpoint", str(tmp_path / "seg" / "model.pt"), "--output_dir",
                                     str(tmp_path / "eval"), "--n_examples", "3"])
    check_png(tmp_path / "eval" / "segmentation_examples.png", min_side=300)


@pytest.mark.parametrize("name,function", [("visualize", "attention"), ("visualize", "correspondence"),
                                           ("visualize", "pca"), ("visualize", "embedding_map"),
                                           ("visualize", "neighbours"), ("plot_run", "main")])
def test_help(name, function, capsys):
    module = _tool(name)
    assert f"python tools/{name}.py" in module.__doc__.lstrip().splitlines()[2]  # the docstring opens with commands
    with pytest.raises(fire.core.FireExit) as exit_info:
        fire.Fire(getattr(module, function), command=["--help"])
    assert exit_info.value.code == 0
    assert "--" in "".join(capsys.readouterr())


@pytest.mark.slow
def test_clis_as_subprocesses(sample_images, tmp_path, check_png):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    tiny = ["--encoder", "tiny_vit_p14", "--image_size", "56", "--out_dir", str(tmp_path)]
    for command in (["attention", "--image", sample_images[0]],
                    ["correspondence", "--image", sample_images[0], "--target", sample_images[1]],
                    ["pca", "--images", str(sample_images)]):
        subprocess.run([sys.executable, str(REPO / "tools" / "visualize.py"), *command, *tiny], check=True, cwd=REPO,
                       capture_output=True, env=env)
    a, b = Path(sample_images[0]).stem, Path(sample_images[1]).stem  # per-image outputs are named after the inputs
    for name in (f"{a}_attention.png", f"{a}_patch_similarity_{b}.png", "pca.png"):
        check_png(tmp_path / name)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path / "run" / "tensorboard"))
    for step in range(5):
        writer.add_scalar("loss/loss", 1.0 / (1 + step), step)
    writer.close()
    out = subprocess.run([sys.executable, str(REPO / "tools" / "plot_run.py"), str(tmp_path / "run")], check=True,
                         cwd=REPO, capture_output=True, text=True, env=env).stdout
    assert out.strip().endswith("run_report.png")
    check_png(tmp_path / "run" / "run_report.png")

"""convirt_pretrain_job / build_convirt_trainer on the embedded sample (reports synthesised from its metadata):
an interrupted + resumed run reproduces the uninterrupted losses and sentences exactly; the exported image-encoder
folder loads unchanged in the evaluation tools (embedding extraction, tools/linear_probe.py); TensorBoard has the
loss terms, the temperature and the in-batch retrieval accuracies; a second run in the folder is refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import fire
import numpy as np
import pytest
import torch
from ignite.engine import Events

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.data.sample_reports import with_metadata_reports
from raddino_monai.engines.handlers import latest_checkpoint
from raddino_monai.experiments.convirt_pretrain import build_convirt_trainer, convirt_pretrain_job
from raddino_monai.inference import extract_embeddings, load_embeddings
from raddino_monai.models import create_backbone
from raddino_monai.ssl.convirt import ConVIRTConfig
from raddino_monai.text.build import random_bert

REPO = Path(__file__).resolve().parents[2]
TINY_BERT = {"hidden_size": 16, "num_layers": 3, "num_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 64}


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return with_metadata_reports(load_sample_datalist("training"))[:12]


@pytest.fixture(scope="module")
def config(items: list[dict], tmp_path_factory: pytest.TempPathFactory) -> ConVIRTConfig:
    bert = random_bert([i["report"] for i in items], tmp_path_factory.mktemp("bert") / "bert", model=TINY_BERT)
    return ConVIRTConfig.from_recipe("tiny", model={"text_encoder": str(bert)}, augment={"size": 32})


def _record(trainer) -> tuple[list[float], list[list[str]]]:
    losses: list[float] = []
    texts: list[list[str]] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output["losses"]["loss"]))
    trainer.add_event_handler(Events.GET_BATCH_COMPLETED, lambda e: texts.append(list(e.state.batch["text"])))
    return losses, texts


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(tmp_path: Path, items, config) -> None:
    options = dict(max_epochs=2, save_interval=2, log_interval=1)  # 3 iterations per epoch
    full = build_convirt_trainer(config, items, tmp_path / "full", **options)
    full_losses, full_texts = _record(full)
    full.run()
    assert len(full_losses) == 6

    first = build_convirt_trainer(config, items, tmp_path / "cut", **options)
    first.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda e: e.terminate())  # mid-epoch 2
    first_losses, _ = _record(first)
    first.run()
    torch.manual_seed(123)  # a resumed process starts from another global state
    resumed = build_convirt_trainer(config, items, tmp_path / "cut", **options)
    resumed_losses, resumed_texts = _record(resumed)
    resumed.run()
    assert first_losses == full_losses[:4]
    assert resumed_losses == full_losses[4:]  # exact float equality
    assert resumed_texts == full_texts[4:]  # the same sentence drawn for every item after the resume
    for key, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_export_loads_in_the_evaluation_tools(tmp_path: Path, items, config) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    hf = convirt_pretrain_job(config, items, tmp_path / "run", max_iters=2, log_interval=1)
    assert hf == tmp_path / "run" / "image_encoder_hf" and (hf / "model.safetensors").is_file()
    tags = set(EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload().Tags()["scalars"])
    assert {"loss/loss", "loss/loss_image_to_text", "loss/loss_text_to_image", "monitor/temperature",
            "monitor/accuracy_image_to_text", "monitor/accuracy_text_to_image", "schedule/lr"} <= tags

    backbone = create_backbone("tiny_vit_p16", weights=hf)  # what every tool's --encoder arch:folder does
    trained = build_convirt_trainer(config, items, tmp_path / "other", max_iters=2).model
    trained.load_state_dict(latest_checkpoint(tmp_path / "run" / "checkpoints")[1]["model"])  # the final state
    trainer_backbone = trained.exported_backbone()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(backbone.eval()(x), trainer_backbone.eval()(x), atol=1e-5)

    paths = [str(Path(i["image"])) for i in load_sample_datalist("test")[:3]]
    out = extract_embeddings(paths, tmp_path / "emb.npz", weights=hf, arch="tiny_vit_p16", progress=False)
    emb = load_embeddings(out)
    assert emb["cls"].shape == (3, 192) and np.isfinite(emb["cls"]).all()

    spec = importlib.util.spec_from_file_location("tools_linear_probe", REPO / "tools" / "linear_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)  # type: ignore[union-attr]
    table = fire.Fire(probe.main, command=["--encoder", f"tiny_vit_p16:{hf}", "--output_dir", str(tmp_path / "lp"),
                                           "--task", "multiclass", "--epochs", "1", "--seeds", "[0]",
                                           "--label_fractions", "[1.0]", "--augment", "False"])
    assert "| image_encoder_hf |" in table and (tmp_path / "lp" / "results.csv").is_file()


def test_second_run_in_a_live_folder_is_refused(tmp_path: Path, items, config) -> None:
    from raddino_monai.engines.handlers import RunLock, RunLockedError

    with RunLock(tmp_path / "busy"):
        with pytest.raises(RunLockedError, match="in use"):
            convirt_pretrain_job(config, items, tmp_path / "busy", max_iters=1)
    with pytest.raises(ValueError, match="fewer than one batch"):
        convirt_pretrain_job(config, items[:2], tmp_path / "few")


@pytest.mark.slow
def test_loss_falls_on_a_tiny_overfit_set(tmp_path: Path) -> None:
    """The engine learns what it can: 8 images with one distinct sentence each, no augmentation, 60 steps take the
    loss from above ln(8) (embeddings that tell the pairs apart no better than chance) to well below it."""
    items = [{**it, "report": f"Radiograph {n} shows finding number {n}."}
             for n, it in enumerate(load_sample_datalist("training")[:8])]
    bert = random_bert([i["report"] for i in items], tmp_path / "bert", model=TINY_BERT)
    still = {"crop_scale": (1.0, 1.0), "crop_ratio": (1.0, 1.0), "flip_prob": 0.0, "affine_prob": 0.0,
             "jitter_prob": 0.0, "blur_prob": 0.0, "size": 32}
    config = ConVIRTConfig.from_recipe("tiny", model={"text_encoder": str(bert), "n_frozen_layers": 0},
                                       augment=still, batch_size_per_gpu=8, lr=1e-3)
    trainer = build_convirt_trainer(config, items, tmp_path / "run", max_epochs=60, log_interval=1000)
    losses, _ = _record(trainer)
    trainer.run()
    assert len(losses) == 60
    start, end = np.mean(losses[:5]), np.mean(losses[-5:])  # measured 2.39 -> 1.45
    assert start > 0.9 * np.log(8)  # no better than chance at the start
    assert end < 0.8 * np.log(8) and end < 0.75 * start

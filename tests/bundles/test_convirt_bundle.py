"""bundles/convirt: metadata against the vendored schema, network I/O, train-workflow properties of every config
combination, the recipe the configs resolve to (ConVIRTConfig holds every default), a two-iteration run on the
embedded sample data in the default suite and a full CPU smoke epoch as a slow test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from ignite.engine import Events
from monai.bundle import ConfigParser, ConfigWorkflow, verify_metadata, verify_net_in_out

from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.engines import PretrainTrainer
from raddino_monai.engines.handlers import RunLock
from raddino_monai.ssl.convirt import CONVIRT_RECIPES, ConVIRTPretrainModel

REPO = Path(__file__).parents[2]
BUNDLE = REPO / "bundles" / "convirt"
CONFIGS = BUNDLE / "configs"
SCHEMA = REPO / "bundles" / "schema" / "meta_schema_20240725.json"


def _workflow(tmp_path: Path, *names: str, **override) -> ConfigWorkflow:
    override = {"bundle_root": str(BUNDLE), "output_dir": str(tmp_path), "recipe": "tiny", "num_workers": 0,
                **override}
    return ConfigWorkflow(config_file=[str(CONFIGS / n) for n in names], meta_file=str(CONFIGS / "metadata.json"),
                          logging_file=False, workflow_type="train", **override)


def test_layout_and_metadata() -> None:
    for name in ("LICENSE", "docs/README.md", "configs/logging.conf", "configs/train.json",
                 "configs/multi_gpu_train.json", "configs/cpu_smoke.json"):
        assert (BUNDLE / name).is_file(), name
    assert (BUNDLE / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    verify_metadata(meta_file=str(CONFIGS / "metadata.json"), filepath=str(SCHEMA))
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["version"] in meta["changelog"] and "2010.00747" in " ".join(meta["references"])


def test_network_io_matches_metadata(tmp_path: Path) -> None:
    verify_net_in_out(net_id="network_def", meta_file=str(CONFIGS / "metadata.json"),
                      config_file=str(CONFIGS / "train.json"), device="cpu", n=2, bundle_root=str(BUNDLE),
                      output_dir=str(tmp_path))


@pytest.mark.parametrize("names", [("train.json",), ("train.json", "cpu_smoke.json")])
def test_train_properties(tmp_path: Path, names) -> None:
    workflow = _workflow(tmp_path, *names)
    workflow.initialize()
    assert workflow.check_properties() == []
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert isinstance(trainer, PretrainTrainer) and isinstance(trainer.run_lock, RunLock)
    assert trainer.run_lock.folder == tmp_path
    assert workflow.parser.get_parsed_content("synthesize_reports") is True  # the sample has no report text


def test_multi_gpu_overlay_properties(tmp_path: Path) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    try:
        workflow = _workflow(tmp_path / "out", "train.json", "multi_gpu_train.json")
        workflow.initialize()
        assert workflow.check_properties() == []
        assert isinstance(workflow.parser.get_parsed_content("network"), torch.nn.parallel.DistributedDataParallel)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("names, recipe", [(("train.json",), "convirt"), (("train.json", "cpu_smoke.json"), "tiny")])
def test_configs_resolve_to_the_dataclass_recipe(tmp_path: Path, names, recipe) -> None:
    """The bundle names a recipe and restates none of its values, so it cannot drift from ConVIRTConfig."""
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / n) for n in names])
    parser.update({"output_dir": str(tmp_path), "bundle_root": str(BUNDLE)})
    parser.parse()
    cfg = parser.get_parsed_content("convirt_config")
    text = cfg.model.text_encoder
    assert text == str(tmp_path / "text_encoder") and (tmp_path / "text_encoder" / "config.json").is_file()
    assert cfg.replace(model={"text_encoder": ""}) == CONVIRT_RECIPES[recipe]()
    assert parser.get_parsed_content("batch_size") == cfg.batch_size_per_gpu
    for name in names:
        raw = json.loads((CONFIGS / name).read_text())
        assert not {"temperature", "lr", "weight_decay", "precision", "clip_grad"} & set(raw)
        assert raw.get("batch_size", "$@convirt_config.").startswith("$@convirt_config.")
        assert not {"precision", "clip_grad"} & {k for k, v in raw.get("train", {}).get("trainer", {}).items()
                                                 if not str(v).startswith("$@convirt_config")}


def test_two_iterations_on_the_sample_data(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path, "train.json", "cpu_smoke.json", save_interval=2)
    workflow.initialize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate())
    workflow.run()
    workflow.finalize()
    assert isinstance(trainer.model, ConVIRTPretrainModel) and trainer.state.iteration == 2
    assert (tmp_path / "checkpoints" / "checkpoint_00000002.pt").is_file()
    assert (tmp_path / "image_encoder_hf" / "model.safetensors").is_file()
    assert (tmp_path / "models" / "model.pt").is_file() and any((tmp_path / "tensorboard").iterdir())


@pytest.mark.slow
def test_cpu_smoke_epoch(tmp_path: Path) -> None:
    workflow = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "cpu_smoke.json")],
                              meta_file=str(CONFIGS / "metadata.json"), logging_file=False, workflow_type="train",
                              bundle_root=str(BUNDLE), output_dir=str(tmp_path),
                              datalist=str(sample_datalist_path()))
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    assert (tmp_path / "checkpoints" / "checkpoint_00000018.pt").is_file()  # 72 training items / batch 4
    assert (tmp_path / "image_encoder_hf" / "config.json").is_file()

"""bundles/ecamp: metadata against the vendored schema, network I/O, train-workflow properties of every config
combination, the recipe the configs resolve to (the dataclasses are its only source), and a short CPU run of
train.json + cpu_smoke.json on the embedded sample data (reports synthesized from its labels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from monai.bundle import ConfigParser, ConfigWorkflow, verify_metadata, verify_net_in_out

from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.engines import PretrainTrainer
from raddino_monai.evaluation.report.entity_sentence import CheXpertEntitySentence
from raddino_monai.ssl import ECAMP_RECIPES, ECAMPMetaArch, ECAMPPretrainConfig

REPO = Path(__file__).parents[2]
BUNDLE = REPO / "bundles" / "ecamp"
CONFIGS = BUNDLE / "configs"
SCHEMA = REPO / "bundles" / "schema" / "meta_schema_20240725.json"
FAST = {"recipe": "tiny", "num_workers": 0}  # property checks instantiate the trainer: keep the model tiny


def _workflow(*names: str, **override) -> ConfigWorkflow:
    files = [str(CONFIGS / n) for n in names]
    override = {"bundle_root": str(BUNDLE), "datalist": str(sample_datalist_path()), **override}
    return ConfigWorkflow(
        config_file=files, meta_file=str(CONFIGS / "metadata.json"), logging_file=False, workflow_type="train",
        **override,
    )


def _parsed(*names: str, **override: object) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / n) for n in names])
    parser.update(override)
    parser.parse()
    return parser


def test_layout_and_metadata() -> None:
    for name in ("LICENSE", "docs/README.md", "configs/logging.conf", "configs/train.json",
                 "configs/multi_gpu_train.json", "configs/cpu_smoke.json", "configs/metadata.json"):
        assert (BUNDLE / name).is_file(), name
    assert (BUNDLE / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    verify_metadata(meta_file=str(CONFIGS / "metadata.json"), filepath=str(SCHEMA))
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["version"] in meta["changelog"]


def test_network_io_matches_metadata(tmp_path) -> None:
    verify_net_in_out(
        net_id="network_def", meta_file=str(CONFIGS / "metadata.json"),
        config_file=str(CONFIGS / "train.json"), device="cpu", n=2,
        bundle_root=str(BUNDLE), output_dir=str(tmp_path),
    )


@pytest.mark.parametrize("names", [("train.json",), ("train.json", "cpu_smoke.json")])
def test_train_properties(names, tmp_path) -> None:
    workflow = _workflow(*names, output_dir=str(tmp_path), **FAST)
    workflow.initialize()
    assert workflow.check_properties() == []
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert isinstance(trainer, PretrainTrainer) and workflow.max_epochs >= 1
    assert trainer.run_lock.folder == tmp_path  # one run per output folder
    assert isinstance(trainer.network, ECAMPMetaArch)


def test_multi_gpu_overlay_properties(tmp_path) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    try:
        workflow = _workflow("train.json", "multi_gpu_train.json", output_dir=str(tmp_path / "out"), **FAST)
        workflow.initialize()
        assert workflow.check_properties() == []
        assert isinstance(workflow.parser.get_parsed_content("network"), torch.nn.parallel.DistributedDataParallel)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("names, recipe", [(("train.json",), "ecamp"), (("train.json", "cpu_smoke.json"), "tiny")])
def test_configs_resolve_to_the_dataclass_recipes(names: tuple[str, ...], recipe: str) -> None:
    """The bundle names a recipe and restates none of its values, so it cannot drift from the dataclasses."""
    parser = _parsed(*names)
    assert parser.get_parsed_content("ecamp_config") == ECAMP_RECIPES[recipe]() == ECAMPPretrainConfig.from_recipe(
        recipe)
    for name in names:
        raw = json.loads((CONFIGS / name).read_text())
        assert set(raw.get("ecamp_config", {})) <= {"_target_", "name", "backbone_weights", "text_model"}
        optimizer = raw.get("optimizer", {})
        assert all(str(optimizer[k]).startswith("$@ecamp_config.optim.") for k in ("lr", "betas", "weight_decay")
                   if k in optimizer)
        trainer = raw.get("train", {}).get("trainer", {})
        assert all(str(trainer[k]).startswith("$@ecamp_config") for k in ("precision", "clip_grad", "max_epochs")
                   if k in trainer)


def test_bundle_wires_the_labeler_and_the_recipe(tmp_path) -> None:
    parser = _parsed("train.json", "cpu_smoke.json", output_dir=str(tmp_path), num_workers=0)
    assert isinstance(parser.get_parsed_content("entity_fn"), CheXpertEntitySentence)
    items = parser.get_parsed_content("items")
    assert len(items) == 73 and all(item["report"] for item in items)  # synthesized for the sample data
    meta = parser.get_parsed_content("meta_arch")
    cfg = parser.get_parsed_content("ecamp_config")
    assert meta.model.config == cfg.model and parser.get_parsed_content("network_def") is meta.model.backbone
    trainer = parser.get_parsed_content("train#trainer")
    assert (trainer.precision, trainer.clip_grad) == (cfg.optim.precision_on("cpu"), cfg.optim.clip_grad)
    assert parser.get_parsed_content("train#dataloader").batch_size == cfg.optim.batch_size_per_gpu
    # the bundle's handler list is the job's (ecamp_handlers), type for type and setting for setting
    from raddino_monai.experiments.ecamp_pretrain import ecamp_handlers

    bundle = parser.get_parsed_content("train#handlers")
    job = ecamp_handlers(tmp_path, save_interval=10, export_interval=0, log_interval=2,
                         model_path=parser.get_parsed_content("model_path"))
    assert [type(h) for h in bundle] == [type(h) for h in job]
    settings = ("hint", "warmup", "save_dir", "save_interval", "n_saved", "resume", "hf_dir", "interval",
                "model_path", "log_dir", "monitors", "output_transform")
    for a, b in zip(bundle, job):
        for name in settings:
            if hasattr(a, name):
                value_a, value_b = getattr(a, name), getattr(b, name)
                if name == "output_transform":
                    value_a, value_b = value_a.terms, value_b.terms
                assert str(value_a) == str(value_b), (type(a), name)


@pytest.mark.slow
def test_cpu_smoke_run(tmp_path) -> None:
    workflow = _workflow("train.json", "cpu_smoke.json", output_dir=str(tmp_path),
                         ecamp_config={"_target_": "raddino_monai.ssl.ECAMPPretrainConfig.from_recipe",
                                       "name": "tiny", "schedule": {"epochs": 1, "cosine_epochs": 1}})
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    assert (tmp_path / "checkpoints" / "checkpoint_00000018.pt").is_file()  # 73 items // batch 4 = 18 iterations
    assert (tmp_path / "encoder_hf" / "model.safetensors").is_file()
    assert (tmp_path / "models" / "model.pt").is_file()
    assert any((tmp_path / "tensorboard").iterdir())

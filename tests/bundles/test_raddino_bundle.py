"""bundles/raddino: metadata against the vendored schema, network I/O, train-workflow properties of every config
combination, the recipes the configs resolve to (the dataclasses are their only source), and a short CPU run of
train.json + cpu_smoke.json on the embedded sample data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from monai.bundle import ConfigParser, ConfigWorkflow, verify_metadata, verify_net_in_out

from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.ssl import SSL_RECIPES, SSLConfig, StudentTeacher
from raddino_monai.transforms import MULTICROP_RECIPES, MultiCropConfig

REPO = Path(__file__).parents[2]
BUNDLE = REPO / "bundles" / "raddino"
CONFIGS = BUNDLE / "configs"
SCHEMA = REPO / "bundles" / "schema" / "meta_schema_20240725.json"
TINY = {  # keep property checks fast: they instantiate the trainer (model, data) to test the ids
    "recipe": "tiny",
    "ssl_config#heads": {"n_prototypes": 64, "hidden_dim": 32, "bottleneck_dim": 16},
    "num_workers": 0,
}


def _workflow(*names: str, **override) -> ConfigWorkflow:
    files = [str(CONFIGS / n) for n in names]
    override = {"bundle_root": str(BUNDLE), "datalist": str(sample_datalist_path()), **override}
    return ConfigWorkflow(
        config_file=files, meta_file=str(CONFIGS / "metadata.json"), logging_file=False, workflow_type="train",
        **override,
    )


def test_layout_and_metadata() -> None:
    for name in ("LICENSE", "docs/README.md", "configs/logging.conf", "configs/train.json",
                 "configs/multi_gpu_train.json", "configs/multi_gpu_fsdp.json", "configs/cpu_smoke.json"):
        assert (BUNDLE / name).is_file(), name
    assert (BUNDLE / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    verify_metadata(meta_file=str(CONFIGS / "metadata.json"), filepath=str(SCHEMA))
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["version"] in meta["changelog"]


def test_schema_rejects_missing_mandatory_key(tmp_path) -> None:
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    del meta["network_data_format"]
    bad = tmp_path / "metadata.json"
    bad.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="network_data_format"):
        verify_metadata(meta_file=str(bad), filepath=str(SCHEMA))


def test_network_io_matches_metadata() -> None:
    verify_net_in_out(
        net_id="network_def", meta_file=str(CONFIGS / "metadata.json"), config_file=str(CONFIGS / "train.json"),
        device="cpu", n=2, bundle_root=str(BUNDLE),
    )


@pytest.mark.parametrize("names", [("train.json",), ("train.json", "cpu_smoke.json")])
def test_train_properties(names) -> None:
    workflow = _workflow(*names, **TINY)
    workflow.initialize()
    assert workflow.check_properties() == []
    assert workflow.train_handlers is not None and workflow.max_epochs >= 1
    from raddino_monai.engines.handlers import RunLock

    lock = workflow.parser.get_parsed_content("train#trainer").run_lock  # one run per output folder
    assert isinstance(lock, RunLock) and lock.folder == Path(workflow.parser.get_parsed_content("output_dir"))


def test_multi_gpu_overlay_properties(tmp_path) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    try:
        workflow = _workflow("train.json", "multi_gpu_train.json", **TINY)
        workflow.initialize()
        assert workflow.check_properties() == []
        assert isinstance(workflow.parser.get_parsed_content("network"), torch.nn.parallel.DistributedDataParallel)
    finally:
        dist.destroy_process_group()


def _parsed(*names: str, **override: object) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / n) for n in names])
    parser.update(override)
    parser.parse()
    return parser


@pytest.mark.parametrize("names, recipe", [(("train.json",), "raddino"), (("train.json", "cpu_smoke.json"), "tiny")])
def test_configs_resolve_to_the_dataclass_recipes(names: tuple[str, ...], recipe: str) -> None:
    """The bundle names a recipe and overrides nothing of it, so it cannot drift from the dataclasses."""
    parser = _parsed(*names)
    assert parser.get_parsed_content("ssl_config") == SSL_RECIPES[recipe]() == SSLConfig.from_recipe(recipe)
    assert parser.get_parsed_content("train#multicrop_config") == MULTICROP_RECIPES[recipe]()
    assert parser.get_parsed_content("batch_size") == SSL_RECIPES[recipe]().batch_size_per_gpu
    assert parser.get_parsed_content("train#deterministic_transforms")[1].resizer.size == MultiCropConfig.from_recipe(
        recipe).global_size
    for name in names:  # no recipe value restated: the ssl_config entry only names the recipe and the weight paths
        raw = json.loads((CONFIGS / name).read_text())
        assert set(raw.get("ssl_config", {})) <= {"_target_", "name", "backbone", "heads"}
        assert not {"precision", "clip_grad"} & set(raw.get("train", {}).get("trainer", {}))
        assert not {"drop_path_rate", "global_size", "local_size", "n_local", "precision"} & set(raw)


def test_bundle_builds_the_model_from_the_recipe() -> None:
    parser = _parsed("train.json", "cpu_smoke.json", **TINY)
    model = parser.get_parsed_content("student_teacher")
    assert isinstance(model, StudentTeacher) and model.config == parser.get_parsed_content("ssl_config")
    assert parser.get_parsed_content("network_def") is model.student["backbone"]
    assert model.n_prototypes == 64 and model.student["backbone"].config.drop_path_rate == 0.1  # tiny recipe
    trainer = parser.get_parsed_content("train#trainer")
    assert (trainer.precision, trainer.clip_grad) == (model.config.precision, model.config.optim.clip_grad)


@pytest.mark.slow
def test_cpu_smoke_run(tmp_path) -> None:
    workflow = _workflow("train.json", "cpu_smoke.json", output_dir=str(tmp_path), max_epochs=1)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    assert (tmp_path / "checkpoints" / "checkpoint_00000009.pt").is_file()
    assert (tmp_path / "teacher_hf" / "model.safetensors").is_file()
    assert (tmp_path / "models" / "model.pt").is_file()
    assert any((tmp_path / "tensorboard").iterdir())


def test_fsdp_overlay_shards_the_model(tmp_path) -> None:
    """train.json + multi_gpu_train.json + multi_gpu_fsdp.json: FSDP2-sharded student and teacher, the optimizer over
    the shards, activation checkpointing on, the ViT-L default architecture (replaced by the tiny one here)."""
    from torch.distributed.tensor import DTensor

    from raddino_monai.engines.fsdp import is_sharded

    raw = json.loads((CONFIGS / "multi_gpu_fsdp.json").read_text())
    assert raw["fsdp_arch"] == "dinov2_vitl14"
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    try:
        workflow = _workflow("train.json", "multi_gpu_train.json", "multi_gpu_fsdp.json", **TINY,
                             fsdp_arch="tiny_vit_p16")
        workflow.initialize()
        assert workflow.check_properties() == []
        network = workflow.parser.get_parsed_content("network")
        assert isinstance(network, StudentTeacher) and is_sharded(network.student) and is_sharded(network.teacher)
        assert network.student["backbone"].grad_checkpointing
        optimizer = workflow.parser.get_parsed_content("optimizer")
        assert all(isinstance(p, DTensor) for g in optimizer.param_groups for p in g["params"])
    finally:
        dist.destroy_process_group()
@pytest.mark.parametrize("cache_rate", [1.0, 0.0])
def test_training_data_skips_and_counts_bad_files(tmp_path, cache_rate: float) -> None:
    """train.json reads its data through SkipBadFiles(CXRCacheDataset, substitute=True) and counts bad files with a
    BadFileHandler writing into output_dir: a truncated PNG neither stops caching (cache_rate 1) nor a step (0)."""
    import numpy as np
    from PIL import Image

    from raddino_monai.data.bad_files import BAD_FILES_KEY, SkipBadFiles
    from raddino_monai.engines.handlers import DEFAULT_MAX_BAD_FRACTION, BadFileHandler

    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (120, 100), dtype=np.uint8)).save(path)
        paths.append(path)
    paths[1].write_bytes(paths[1].read_bytes()[:60])
    (tmp_path / "datalist.json").write_text(json.dumps({"training": [{"image": p.name} for p in paths]}))
    parser = _parsed("train.json", "cpu_smoke.json", **TINY, bundle_root=str(BUNDLE), cache_rate=cache_rate,
                     datalist=str(tmp_path / "datalist.json"), output_dir=str(tmp_path / "run"))
    dataset = parser.get_parsed_content("train#dataset")
    assert isinstance(dataset, SkipBadFiles) and dataset.substitute and dataset.total == 4
    if cache_rate == 1.0:
        assert [b.path for b in dataset.dropped] == [str(paths[1])] and len(dataset) == 3
    else:
        item = dataset[1]
        assert [b.path for b in item[BAD_FILES_KEY]] == [str(paths[1])] and "global_crops" in item
    handlers = [h for h in parser.get_parsed_content("train#handlers") if isinstance(h, BadFileHandler)]
    assert len(handlers) == 1 and handlers[0].log.max_bad_fraction == DEFAULT_MAX_BAD_FRACTION
    assert handlers[0].log.path == tmp_path / "run" / "bad_files.csv" and handlers[0].log.total == 4

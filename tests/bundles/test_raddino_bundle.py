"""bundles/raddino: metadata against the vendored schema, network I/O, train-workflow properties of every config
combination, and a short CPU run of train.json + cpu_smoke.json on the embedded sample data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from monai.bundle import ConfigWorkflow, verify_metadata, verify_net_in_out

from raddino_monai.data.sample import sample_datalist_path

REPO = Path(__file__).parents[2]
BUNDLE = REPO / "bundles" / "raddino"
CONFIGS = BUNDLE / "configs"
SCHEMA = REPO / "bundles" / "schema" / "meta_schema_20240725.json"
TINY = {  # keep property checks fast: they instantiate the trainer (model, data) to test the ids
    "backbone_name": "tiny_vit_p16",
    "ssl_config#heads#n_prototypes": 64,
    "ssl_config#heads#hidden_dim": 32,
    "ssl_config#heads#bottleneck_dim": 16,
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
                 "configs/multi_gpu_train.json", "configs/cpu_smoke.json"):
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

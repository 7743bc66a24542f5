"""PretrainTrainer: the generic step on a small loss-dict model (schedules reach the groups, per-part clipping, the
after-step hook, every scalar term logged), precision checks, exact resume with the checkpoint handler, NaN guard,
TensorBoard monitors and the export protocol."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Events
from monai.data import Dataset
from monai.transforms import RandGaussianNoised
from torch import nn
from transformers import AutoModel

from raddino_monai.data.samplers import SEED_KEY, ResumableDistributedSampler, SeededDataset
from raddino_monai.engines import PretrainTrainer, exported_backbone, prepare_tensor_batch, scalar_terms
from raddino_monai.engines.handlers import (
    NaNGuard,
    NonFiniteLossError,
    RunLock,
    SSLCheckpointHandler,
    SSLTensorBoardHandler,
    TeacherExportHandler,
)
from raddino_monai.models import create_backbone
from raddino_monai.ssl import OptimSchedules

N_ITEMS = 12


class LossDictModel(nn.Module):
    """Regression of a target from noisy inputs; returns the loss dict of the PretrainTrainer contract."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)
        self.scale = scale
        self.steps: list[float] = []

    def forward(self, batch: dict) -> dict:
        pred = self.head(torch.relu(self.encoder(batch["x"]))).squeeze(-1)
        mse = ((pred - batch["y"]) ** 2).mean() * self.scale
        l1 = (pred - batch["y"]).abs().mean().detach()
        return {"loss": mse, "mse": mse.detach(), "l1_monitor": l1, "temperature": 0.1, "mask": torch.ones(3, 3)}

    def student_submodules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "head": self.head}

    def after_optimizer_step(self, values) -> None:
        self.steps.append(values.lr)


def _dataset(seed: int = 0) -> SeededDataset:
    gen = torch.Generator().manual_seed(7)
    items = [{"x": torch.rand(4, generator=gen), "y": torch.rand((), generator=gen)} for _ in range(N_ITEMS)]
    noisy = Dataset(items, transform=RandGaussianNoised("x", prob=1.0, std=0.1))  # seeded per item by SeededDataset
    return SeededDataset(noisy, seed=seed)


def _collate(items: list[dict]) -> dict:
    return {"x": torch.stack([torch.as_tensor(i["x"]) for i in items]), "y": torch.stack([i["y"] for i in items]),
            "ids": [i[SEED_KEY] for i in items]}


def make_trainer(max_epochs: int = 2, init_seed: int = 0, handlers=(), **kwargs) -> PretrainTrainer:
    torch.manual_seed(init_seed)
    model = LossDictModel()
    dataset = _dataset()
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, sampler=ResumableDistributedSampler(dataset, seed=0),
                                         collate_fn=_collate, drop_last=True)
    groups = [{"params": model.encoder.parameters(), "lr_multiplier": 0.5, "wd_multiplier": 0.0},
              {"params": model.head.parameters()}]
    schedules = OptimSchedules.cosine(peak_lr=1e-2, min_lr=1e-3, weight_decay=0.05, total_iters=max_epochs * 3,
                                      warmup_iters=2)
    options = {"clip_grad": 1.0, "batch_size_key": "x", **kwargs}
    return PretrainTrainer("cpu", max_epochs=max_epochs, train_data_loader=loader, network=model,
                           optimizer=torch.optim.AdamW(groups), schedules=schedules, train_handlers=list(handlers),
                           **options)


def _record(trainer: PretrainTrainer) -> list[float]:
    losses: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output["losses"]["loss"]))
    return losses


def test_step_output_schedule_clipping_and_hook() -> None:
    trainer = make_trainer(max_epochs=1)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate())
    trainer.run()
    out = trainer.state.output
    assert set(out["losses"]) == {"loss", "mse", "l1_monitor", "temperature"}  # non-scalar "mask" left out
    assert out["losses"]["temperature"] == 0.1 and out["batch_size"] == 4
    assert set(out["grad_norms"]) == {"encoder", "head"} and all(v > 0 for v in out["grad_norms"].values())
    values = out["schedule"]
    assert values == trainer.schedules(1) and values.lr == pytest.approx(1e-2)  # end of the 2-iteration warm-up
    encoder_group, head_group = trainer.optimizer.param_groups
    assert encoder_group["lr"] == pytest.approx(0.5 * values.lr) and encoder_group["weight_decay"] == 0.0
    assert head_group["lr"] == pytest.approx(values.lr) and head_group["weight_decay"] == pytest.approx(0.05)
    assert trainer.model.steps == [trainer.schedules(0).lr, values.lr]  # after_optimizer_step saw each step
    assert not torch.equal(trainer.model.state_dict()["head.weight"], before["head.weight"])


def test_clipping_bounds_each_part() -> None:
    trainer = make_trainer(max_epochs=1, clip_grad=1e-3)
    trainer.model.scale = 1e4  # large gradients
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=1), lambda e: e.terminate())
    seen: list[float] = []

    def after_clip(engine) -> None:
        for module in engine.model.student_submodules().values():
            norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.parameters()]))
            seen.append(float(norm))

    from monai.engines.utils import IterationEvents

    trainer.add_event_handler(IterationEvents.BACKWARD_COMPLETED, after_clip)
    trainer.run()
    assert all(n <= 1e-3 * (1 + 1e-4) for n in seen)
    assert all(v > 1e-3 for v in trainer.state.output["grad_norms"].values())  # pre-clip norms are logged


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="valid values are"):
        make_trainer(precision="fp8")
    with pytest.raises(ValueError, match="CUDA"):
        make_trainer(precision="fp16")
    with pytest.raises(ValueError, match="clip_grad"):
        make_trainer(clip_grad=-1.0)
    with pytest.raises(TypeError, match="dicts of tensors"):
        prepare_tensor_batch([torch.zeros(1)])
    assert scalar_terms({"a": torch.tensor([2.0]), "b": 3, "c": torch.zeros(2), "d": True}) == {"a": 2.0, "b": 3.0}


def test_bf16_autocast_runs_on_cpu() -> None:
    trainer = make_trainer(max_epochs=1, precision="bf16")
    trainer.run()
    assert trainer.state.iteration == 3 and math.isfinite(trainer.state.output["losses"]["loss"])


def test_missing_loss_names_the_keys() -> None:
    trainer = make_trainer(max_epochs=1)
    trainer.network.forward = lambda batch: {"mse": torch.zeros(())}  # type: ignore[method-assign]
    with pytest.raises(KeyError, match="returned no 'loss'"):
        trainer.run()


def test_resume_reproduces_uninterrupted_run_bitwise(tmp_path: Path) -> None:
    full = make_trainer(handlers=[SSLCheckpointHandler(tmp_path / "a", save_interval=2, n_saved=5, resume=False)])
    full_losses = _record(full)
    full.run()
    resumed = make_trainer(init_seed=99, handlers=[
        SSLCheckpointHandler(tmp_path / "b", load_path=tmp_path / "a" / "checkpoint_00000004.pt")])
    resumed_losses = _record(resumed)
    resumed.run()
    assert resumed.state.iteration == full.state.iteration == 6
    assert resumed_losses == full_losses[4:] and len(full_losses) == 6  # exact float equality
    for key, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_nan_guard_and_run_lock(tmp_path: Path) -> None:
    trainer = make_trainer(max_epochs=1, handlers=[NaNGuard(hint="lower the lr.")], run_lock=RunLock(tmp_path))
    trainer.model.scale = float("nan")
    head = trainer.model.head.weight.detach().clone()
    with pytest.raises(NonFiniteLossError, match="lower the lr"):
        trainer.run()
    assert torch.equal(trainer.model.head.weight, head)  # stopped before the optimizer step
    assert not trainer.run_lock.held


def test_tensorboard_logs_terms_and_monitors(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    handler = SSLTensorBoardHandler(tmp_path, interval=1, monitors=("temperature", "l1_monitor"))
    trainer = make_trainer(max_epochs=1, handlers=[handler])
    trainer.run()
    tags = set(EventAccumulator(str(tmp_path)).Reload().Tags()["scalars"])
    assert {"loss/loss", "loss/mse", "monitor/temperature", "monitor/l1_monitor", "schedule/lr",
            "schedule/weight_decay", "grad_norm/encoder", "grad_norm/head"} <= tags
    assert "loss/temperature" not in tags


class _WithBackbone(LossDictModel):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = create_backbone("tiny_vit_p16")

    def exported_backbone(self):
        return self.backbone


def test_export_protocol(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="exported_backbone"):
        exported_backbone(LossDictModel())
    model = _WithBackbone()
    assert exported_backbone(model) is model.backbone

    class _Engine:
        network = model

    folder = TeacherExportHandler(tmp_path / "hf").export(_Engine())  # type: ignore[arg-type]
    loaded = AutoModel.from_pretrained(str(folder))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.backbone.model(pixel_values=x).last_hidden_state
        found = loaded(pixel_values=x).last_hidden_state
    np.testing.assert_allclose(found.numpy(), expected.numpy(), atol=1e-5)

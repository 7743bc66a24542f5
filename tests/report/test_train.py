"""Training: the loss falls, each mode updates exactly its parameters, accumulation = one large batch, exact resume,
the LLaVA schedule, NaN guard, TensorBoard scalars, never overwriting a finished run."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from ignite.engine import Events

from raddino_monai.engines.handlers import NonFiniteLossError
from raddino_monai.report import ReportTrainConfig, build_report_trainer, cosine_with_warmup, train_report_model
from raddino_monai.report.trainer import warmup_steps

from .helpers import REPORTS, build_model


def _items(n: int = 4, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"id": f"img{i}", "features": rng.standard_normal((4, 16)).astype(np.float32), "report": REPORTS[i]}
            for i in range(n)]


def _config(**overrides) -> ReportTrainConfig:
    base = dict(mode="full", epochs=2, global_batch_size=4, micro_batch_size=2, precision="fp32", lr=1e-3,
                projector_lr=1e-3, warmup_ratio=0.0, save_interval=1, n_saved=2, lora_r=4, lora_alpha=8)
    return ReportTrainConfig(**{**base, **overrides})


def _run(model, items, out, config) -> list[float]:
    trainer = build_report_trainer(model, items, out, config, progress=False)
    losses: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output["losses"]["loss"]))
    trainer.run()
    return losses


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_loss_falls_on_a_tiny_overfit_set(lm_folders, tmp_path) -> None:
    config = _config(epochs=30, lr=1e-2, projector_lr=1e-2, save_interval=100)
    losses = _run(build_model(lm_folders("gpt2")), _items(), tmp_path, config)
    assert len(losses) == 30
    assert losses[-1] < 0.3 * losses[0]


def test_projector_only_leaves_the_lm_unchanged(lm_folders, tmp_path) -> None:
    model = build_model(lm_folders("llama"))
    lm_before, proj_before = _state(model.lm), _state(model.projector)
    _run(model, _items(), tmp_path, _config(mode="projector"))
    assert all(torch.equal(lm_before[k], v) for k, v in model.lm.state_dict().items())
    assert any(not torch.equal(proj_before[k], v) for k, v in model.projector.state_dict().items())
    assert model.mode == "projector"


def test_lora_changes_only_adapters_and_projector(lm_folders, tmp_path) -> None:
    model = build_model(lm_folders("qwen2"))
    base_before, proj_before = _state(model.lm), _state(model.projector)
    _run(model, _items(), tmp_path, _config(mode="lora"))
    after = model.lm.state_dict()
    adapters = {k for k in after if "lora_" in k}
    assert adapters and all(".lora_A." in k or ".lora_B." in k for k in adapters)
    base_keys = {k: k.replace("base_model.model.", "").replace(".base_layer", "") for k in after if k not in adapters}
    assert set(base_keys.values()) == set(base_before)
    assert all(torch.equal(after[k], base_before[name]) for k, name in base_keys.items())  # base weights frozen
    assert any(float(after[k].abs().max()) > 0 for k in adapters if ".lora_B." in k)  # B starts at 0: it learned
    assert any(not torch.equal(proj_before[k], v) for k, v in model.projector.state_dict().items())
    assert all("lm_head" not in k for k in adapters)  # peft "all-linear" skips the output layer, as LLaVA does


def test_full_mode_changes_the_lm(lm_folders, tmp_path) -> None:
    model = build_model(lm_folders("phi"))
    before = _state(model.lm)
    _run(model, _items(), tmp_path, _config(epochs=1))
    assert any(not torch.equal(before[k], v) for k, v in model.lm.state_dict().items())


def test_micro_batches_accumulate_to_one_large_batch(lm_folders, tmp_path) -> None:
    from monai.engines.utils import IterationEvents

    base = build_model(lm_folders("llama"))  # no dropout: micro-batching is the only difference
    grads = []
    for micro in (4, 1):
        model = copy.deepcopy(base)
        trainer = build_report_trainer(model, _items(), tmp_path / f"m{micro}",
                                       _config(epochs=1, micro_batch_size=micro, max_grad_norm=0.0), progress=False)
        trainer.add_event_handler(IterationEvents.BACKWARD_COMPLETED, lambda e, m=model: grads.append(
            {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}))
        trainer.run()
    assert len(grads) == 2 and set(grads[0]) == set(grads[1])
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-7)


def test_resume_reproduces_the_uninterrupted_run(lm_folders, tmp_path) -> None:
    base = build_model(lm_folders("gpt2"))
    config = _config(epochs=3, global_batch_size=2)  # 2 steps per epoch, 6 in all
    full = copy.deepcopy(base)
    full_losses = _run(full, _items(), tmp_path / "full", config)

    first = copy.deepcopy(base)
    trainer = build_report_trainer(first, _items(), tmp_path / "cut", config, progress=False)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=3), lambda e: e.terminate())
    trainer.run()  # stops mid-epoch after step 3 (a checkpoint every step)
    resumed = copy.deepcopy(base)
    losses = _run(resumed, _items(), tmp_path / "cut", config)
    assert len(losses) == 3 and losses == pytest.approx(full_losses[3:], rel=0, abs=0)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    names = sorted(p.name for p in (tmp_path / "cut" / "checkpoints").iterdir())
    # the last n_saved, complete files only, each with its run-id sidecar
    assert names == ["checkpoint_00000005.json", "checkpoint_00000005.pt",
                     "checkpoint_00000006.json", "checkpoint_00000006.pt"]


def test_schedule_is_the_transformers_cosine_with_warmup() -> None:
    from transformers import get_cosine_schedule_with_warmup

    total, n_warmup = 40, warmup_steps(40, 0.03)
    assert n_warmup == 2  # ceil(1.2)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_cosine_schedule_with_warmup(optimizer, n_warmup, total)
    for step in range(total):
        assert cosine_with_warmup(step, total, n_warmup) == pytest.approx(optimizer.param_groups[0]["lr"], abs=1e-12)
        optimizer.step()
        scheduler.step()


def test_lr_reaches_the_groups_per_mode(lm_folders, tmp_path) -> None:
    model = build_model(lm_folders("gpt2"))
    config = ReportTrainConfig(mode="lora", epochs=1, global_batch_size=4, micro_batch_size=4, precision="fp32",
                               warmup_ratio=0.0, lora_r=4, lora_alpha=8)
    trainer = build_report_trainer(model, _items(), tmp_path, config, progress=False)
    trainer.run()
    schedule = trainer.state.output["schedule"]
    assert (schedule.lr, schedule.projector_lr) == (2e-4, 2e-5)  # [LLaVA] finetune_lora.sh, step 0 of a 1-step run


def test_nan_guard_stops_before_the_step(lm_folders, tmp_path) -> None:
    model = build_model(lm_folders("gpt2"))
    items = _items()
    items[0]["features"] = np.full((4, 16), np.inf, dtype=np.float32)
    before = _state(model.projector)
    with pytest.raises(NonFiniteLossError, match="precision 'fp32'"):
        _run(model, items, tmp_path, _config(mode="projector"))
    assert all(torch.equal(before[k], v) for k, v in model.projector.state_dict().items())


def test_train_report_model_writes_model_tensorboard_and_never_overwrites(lm_folders, tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = build_model(lm_folders("gpt2"))
    folder = train_report_model(model, _items(), tmp_path, _config(mode="projector", epochs=2), progress=False)
    assert folder == tmp_path / "model" and (folder / "report_config.json").is_file()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/loss", "schedule/lr", "schedule/projector_lr", "grad_norm/trainable"} <= tags
    assert len(events.Scalars("loss/loss")) == 2
    with pytest.raises(FileExistsError, match="this run is finished"):
        train_report_model(build_model(lm_folders("gpt2")), _items(), tmp_path, _config(mode="projector"))


def test_resuming_with_other_settings_raises(lm_folders, tmp_path) -> None:
    model = build_model(lm_folders("gpt2"))
    trainer = build_report_trainer(model, _items(), tmp_path, _config(mode="projector"), progress=False)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=1), lambda e: e.terminate())
    (tmp_path / "train_config.json").write_text('{"train": {"mode": "full"}}')
    trainer.run()
    with pytest.raises(ValueError, match="other settings"):
        train_report_model(build_model(lm_folders("gpt2")), _items(), tmp_path, _config(mode="projector"))


def test_text_only_projector_mode_has_nothing_to_train(lm_folders) -> None:
    from raddino_monai.report import apply_training_mode

    with pytest.raises(ValueError, match="nothing to train"):
        apply_training_mode(build_model(lm_folders("gpt2"), image_tokens=False), _config(mode="projector"))


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="valid values: \\['full', 'lora', 'projector'\\]"):
        ReportTrainConfig(mode="adapter")
    with pytest.raises(ValueError, match="precision"):
        ReportTrainConfig(precision="fp16")
    assert ReportTrainConfig(mode="projector").lm_lr() is None
    assert ReportTrainConfig().projector_learning_rate() == ReportTrainConfig().lm_lr() == 2e-5  # [PAPER]

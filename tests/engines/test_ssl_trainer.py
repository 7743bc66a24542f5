"""SSLTrainer: one full step updates student and teacher, schedules reach the optimizer, events fire, precision
checks; resume from a checkpoint reproduces the uninterrupted run bit for bit on CPU."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Events
from monai.engines.utils import IterationEvents
from ssl_helpers import make_trainer, record_losses, student_state

from raddino_monai.engines import AUTOCAST_DTYPES, SSLTrainer, prepare_ssl_batch
from raddino_monai.engines.handlers import SSLCheckpointHandler, find_checkpoints
from raddino_monai.ssl.config import PRECISIONS


def test_step_updates_student_teacher_and_optimizer_groups() -> None:
    trainer = make_trainer(batch_size=4, max_epochs=1)
    fired: list[str] = []
    events = (IterationEvents.FORWARD_COMPLETED, IterationEvents.BACKWARD_COMPLETED, IterationEvents.MODEL_COMPLETED)
    for event in events:
        trainer.add_event_handler(event, lambda e, name=event.name: fired.append(name))
    student0 = student_state(trainer)
    teacher0 = {k: v.clone() for k, v in trainer.model.teacher.state_dict().items()}
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate())
    trainer.run()
    out = trainer.state.output
    assert set(out["losses"]) >= {"loss", "dino", "ibot", "koleo", "teacher_entropy"}
    assert set(out["grad_norms"]) == {"backbone", "dino_head"}  # shared iBOT head: no ibot_head entry
    assert fired[:3] == ["FORWARD_COMPLETED", "BACKWARD_COMPLETED", "MODEL_COMPLETED"]
    changed = [k for k, v in trainer.model.student.state_dict().items() if not torch.equal(v, student0[k])]
    assert "backbone.model.embeddings.cls_token" in changed
    teacher_changed = [k for k, v in trainer.model.teacher.state_dict().items() if not torch.equal(v, teacher0[k])]
    assert teacher_changed, "EMA must move the teacher once the student changed"
    assert not any(p.requires_grad for p in trainer.model.teacher.parameters())
    values = out["schedule"]  # iteration 2 (0-based 1) is inside the lr warm-up
    group = next(g for g in trainer.optimizer.param_groups if not g["is_last_layer"])
    assert group["lr"] == pytest.approx(values.lr * group["lr_multiplier"])
    last = [g for g in trainer.optimizer.param_groups if g["is_last_layer"]]
    assert last and all(g["lr"] == values.last_layer_lr * g["lr_multiplier"] for g in last)


def test_prepare_batch_requires_global_crops() -> None:
    with pytest.raises(KeyError, match="global_crops"):
        prepare_ssl_batch({"image": torch.zeros(1)})


def test_precision_validation() -> None:
    trainer = make_trainer(max_epochs=1)
    common = dict(
        device="cpu",
        max_epochs=1,
        train_data_loader=trainer.data_loader,
        network=trainer.network,
        optimizer=trainer.optimizer,
        schedules=trainer.schedules,
    )
    with pytest.raises(ValueError, match="valid values"):
        SSLTrainer(precision="fp8", **common)
    with pytest.raises(ValueError, match="CUDA"):
        SSLTrainer(precision="fp16", **common)
    with pytest.raises(TypeError, match="StudentTeacher"):
        SSLTrainer(**{**common, "network": torch.nn.Linear(2, 2)})


def test_precision_and_clipping_come_from_the_recipe() -> None:
    trainer = make_trainer(max_epochs=1)
    config = trainer.model.config
    assert (trainer.precision, trainer.clip_grad) == (config.precision, config.optim.clip_grad) == ("fp32", 3.0)
    assert trainer.loss_function is None  # the losses come out of StudentTeacher.forward
    assert AUTOCAST_DTYPES is PRECISIONS and set(PRECISIONS) == {"fp32", "bf16", "fp16"}


def test_resume_reproduces_uninterrupted_run_bitwise(tmp_path) -> None:
    # 3 iterations per epoch (12 images, batch 4), 2 epochs; checkpoints every 2 iterations -> resume mid-epoch.
    full = make_trainer(handlers=[SSLCheckpointHandler(tmp_path / "a", save_interval=2, n_saved=5, resume=False)])
    full_losses = record_losses(full)
    full.run()
    names = [p.name for p in find_checkpoints(tmp_path / "a")]
    assert names[:2] == ["checkpoint_00000002.pt", "checkpoint_00000004.pt"]

    resumed = make_trainer(
        init_seed=99,  # different init: everything must come from the checkpoint
        handlers=[SSLCheckpointHandler(tmp_path / "b", load_path=tmp_path / "a" / "checkpoint_00000004.pt")],
    )
    resumed_losses = record_losses(resumed)
    resumed.run()
    assert resumed.state.iteration == full.state.iteration == 6
    assert resumed_losses == full_losses[4:]  # exact float equality
    for key, value in student_state(full).items():
        assert torch.equal(student_state(resumed)[key], value), key


def test_fresh_vitb_run_from_random_weights_warns_loudly_and_resumed_or_tiny_runs_do_not() -> None:
    import types
    import warnings

    from raddino_monai.models import RandomInitWarning
    from raddino_monai.ssl import SSLConfig

    def fake(recipe: SSLConfig, iteration: int) -> types.SimpleNamespace:
        return types.SimpleNamespace(state=types.SimpleNamespace(iteration=iteration),
                                     model=types.SimpleNamespace(config=recipe))

    raddino = SSLConfig.from_recipe("raddino")  # ViT-B/14 at 518 px, backbone weights None
    with pytest.warns(RandomInitWarning, match="raddino_vitb14.*518 px.*RANDOM weights"):
        SSLTrainer._warn_if_random_init(fake(raddino, 0), fake(raddino, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomInitWarning)
        SSLTrainer._warn_if_random_init(fake(raddino, 5), fake(raddino, 5))  # resumed: the weights are the run's
        with_weights = raddino.replace(backbone={"weights": "/models/rad-dino"})
        SSLTrainer._warn_if_random_init(fake(with_weights, 0), fake(with_weights, 0))
        make_trainer(max_epochs=1).run()  # a real (tiny) run registers the check and stays silent

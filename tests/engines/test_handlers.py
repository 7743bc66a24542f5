"""Handlers: atomic checkpoints survive a crash mid-save, damaged files are skipped, NaN guard stops before the step,
TensorBoard scalars, teacher export, throughput, RNG round trip."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from ignite.engine import Events
from ssl_helpers import make_trainer, student_state, tiny_config
from transformers import AutoModel

import raddino_monai.engines.handlers.checkpoint as checkpoint_module
from raddino_monai.engines.handlers import (
    CheckpointFolderError,
    CollapseMonitor,
    NaNGuard,
    NonFiniteLossError,
    ResumeMismatchError,
    SSLCheckpointHandler,
    SSLTensorBoardHandler,
    TeacherExportHandler,
    ThroughputMonitor,
    capture_rng_state,
    checkpoint_run_id,
    find_checkpoints,
    latest_checkpoint,
    restore_rng_state,
)


def _stop_after(trainer, iteration: int) -> None:
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=iteration), lambda e: e.terminate())


def test_crash_mid_save_keeps_last_good_checkpoint(tmp_path, monkeypatch) -> None:
    handler = SSLCheckpointHandler(tmp_path, save_interval=2, n_saved=2, resume=False, save_final=False)
    trainer = make_trainer(max_epochs=1, handlers=[handler])
    _stop_after(trainer, 2)
    trainer.run()
    good = tmp_path / "checkpoint_00000002.pt"
    assert good.is_file()

    def crashing_save(obj, f, *args, **kwargs):  # writes half a file, then the "machine dies"
        f.write(b"partial checkpoint bytes")
        raise OSError("simulated crash while writing")

    monkeypatch.setattr(checkpoint_module.torch, "save", crashing_save)
    trainer.state.iteration = 4
    with pytest.raises(OSError, match="simulated crash"):
        handler.save(trainer)
    assert not (tmp_path / "checkpoint_00000004.pt").exists()
    assert find_checkpoints(tmp_path) == [good]
    monkeypatch.undo()
    (tmp_path / "checkpoint_00000006.pt").write_bytes(b"damaged")  # e.g. disk corruption after the fact
    path, ckpt = latest_checkpoint(tmp_path)
    assert path == good and ckpt["iteration"] == 2


def test_keep_last_n(tmp_path) -> None:
    trainer = make_trainer(max_epochs=2, handlers=[SSLCheckpointHandler(tmp_path, save_interval=1, n_saved=2)])
    trainer.run()
    assert [p.name for p in find_checkpoints(tmp_path)] == ["checkpoint_00000005.pt", "checkpoint_00000006.pt"]


def test_nan_guard_stops_before_the_optimizer_step(tmp_path) -> None:
    handlers = [NaNGuard(), SSLCheckpointHandler(tmp_path, save_interval=1, resume=False)]
    trainer = make_trainer(max_epochs=1, handlers=handlers)

    def poison(engine) -> None:  # the 3rd batch carries a NaN pixel
        if engine.state.iteration == 2:  # fetched before the counter moves to 3
            engine.state.batch["global_crops"][0, 0, 0, 0] = float("nan")

    trainer.add_event_handler(Events.GET_BATCH_COMPLETED, poison)
    with pytest.raises(NonFiniteLossError, match="iteration 3"):
        trainer.run()
    last = find_checkpoints(tmp_path)[-1]
    assert last.name == "checkpoint_00000002.pt"
    saved = torch.load(last, weights_only=True)["model"]
    for key, value in student_state(trainer).items():  # no update happened with the NaN loss
        assert torch.equal(saved[f"student.{key}"], value), key


def test_tensorboard_export_and_throughput(tmp_path) -> None:
    monitor = ThroughputMonitor(warmup=1)
    handlers = [
        monitor,
        SSLTensorBoardHandler(tmp_path / "tb", interval=1, n_prototypes=64),
        TeacherExportHandler(tmp_path / "teacher_hf", model_path=tmp_path / "models" / "model.pt"),
    ]
    trainer = make_trainer(max_epochs=1, handlers=handlers)
    trainer.run()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    tags = set(events.Tags()["scalars"])
    expected = {"loss/loss", "loss/dino", "loss/ibot", "loss/koleo", "monitor/teacher_entropy", "monitor/koleo_raw"}
    expected |= {"schedule/lr", "schedule/weight_decay", "schedule/momentum", "schedule/teacher_temp"}
    assert expected | {"grad_norm/backbone", "throughput/images_per_s"} <= tags
    assert len(events.Scalars("loss/loss")) == 3
    assert [e.value for e in events.Scalars("monitor/teacher_entropy_uniform")] == pytest.approx([math.log(64)] * 3)
    hf = AutoModel.from_pretrained(tmp_path / "teacher_hf")
    teacher = trainer.model.teacher["backbone"]
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(hf(pixel_values=x).last_hidden_state[:, 0], teacher(x), atol=1e-5)
    state = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    assert state.keys() == teacher.state_dict().keys()
    summary = trainer.state.throughput
    assert summary["images"] == 8 and summary["images_per_s"] > 0 and 0 <= summary["data_wait_share"] < 1
    assert monitor.summary() == summary


def test_rng_state_round_trip() -> None:
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = capture_rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]


def test_checkpoint_validation(tmp_path) -> None:
    with pytest.raises(ValueError, match="n_saved"):
        SSLCheckpointHandler(tmp_path, n_saved=0)
    trainer = make_trainer(max_epochs=1, handlers=[SSLCheckpointHandler(tmp_path, load_path=tmp_path / "nope.pt")])
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        trainer.run()


def test_resume_from_another_recipe_names_the_file(tmp_path) -> None:
    make_trainer(max_epochs=1, handlers=[SSLCheckpointHandler(tmp_path, save_interval=1)]).run()
    other = tiny_config().replace(heads={"n_prototypes": 32})
    trainer = make_trainer(max_epochs=1, config=other, handlers=[SSLCheckpointHandler(tmp_path)])
    with pytest.raises(ResumeMismatchError, match=r"checkpoint_0+\d+\.pt was written by a run.*recipe: checkpoint"):
        trainer.run()  # the run signature catches it first
    trainer = make_trainer(max_epochs=1, config=other, handlers=[SSLCheckpointHandler(tmp_path, allow_changes=True)])
    expected = r"checkpoint_0+\d+\.pt: this checkpoint does not fit.*size mismatch.*new output"
    with pytest.raises(RuntimeError, match=expected):
        trainer.run()


def test_collapse_monitor_warns_once_per_uniform_episode(caplog) -> None:
    from types import SimpleNamespace

    monitor = CollapseMonitor(n_prototypes=100, tolerance=0.01, patience=3)  # warn at entropy >= 0.99 ln 100 = 4.559
    entropies = [4.6, 4.6, 4.0, 4.6, 4.6, 4.6, 4.6, 4.6, 4.0, 4.6, 4.6, 4.6]
    with caplog.at_level("WARNING"):
        for iteration, value in enumerate(entropies, start=1):
            monitor.check(SimpleNamespace(state=SimpleNamespace(output={"losses": {"teacher_entropy": value}},
                                                                iteration=iteration)))
    assert monitor.warned_at == [6, 12]
    assert "teacher targets are uniform" in caplog.text and "ln K = 4.605" in caplog.text
    with pytest.raises(ValueError, match="n_prototypes >= 2"):
        CollapseMonitor(n_prototypes=1)
    # on a real trainer the monitor reads the trainer's teacher_entropy output (a 1 % of ln K threshold always trips)
    real = CollapseMonitor(n_prototypes=64, tolerance=0.99, patience=1)
    make_trainer(max_epochs=1, handlers=[real]).run()
    assert real.warned_at == [1]


def _legacy_checkpoint(folder, iteration: int = 200):
    """A checkpoint file of an older run, written before run ids existed (no sidecar, no "run_id")."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoint_{iteration:08d}.pt"
    torch.save({"iteration": iteration}, path)
    return path


def test_fresh_run_refuses_a_folder_with_another_runs_checkpoint(tmp_path) -> None:
    """Issue 12: a fresh run next to an old checkpoint_00000200.pt used to delete its own checkpoints."""
    old = _legacy_checkpoint(tmp_path)
    trainer = make_trainer(max_epochs=1, handlers=[SSLCheckpointHandler(tmp_path, save_interval=1, resume=False)])
    with pytest.raises(CheckpointFolderError, match=r"1 checkpoint\(s\) of another run.*checkpoint_00000200\.pt.*"
                                                    r"existing='move_aside'"):
        trainer.run()
    assert find_checkpoints(tmp_path) == [old] and trainer.state.iteration == 0  # nothing written, nothing trained


def test_move_aside_keeps_the_old_run_and_prunes_only_this_run(tmp_path) -> None:
    old = _legacy_checkpoint(tmp_path)
    handler = SSLCheckpointHandler(tmp_path, save_interval=1, n_saved=2, resume=False, existing="move_aside")
    make_trainer(max_epochs=1, handlers=[handler]).run()
    names = [p.name for p in find_checkpoints(tmp_path)]
    assert names == ["checkpoint_00000002.pt", "checkpoint_00000003.pt"]  # this run's last two, not deleted
    assert (tmp_path / "previous_unnamed" / old.name).is_file()
    path, ckpt = latest_checkpoint(tmp_path)
    assert path.name == "checkpoint_00000003.pt" and ckpt["run_id"] == handler.run_id
    assert {checkpoint_run_id(p) for p in find_checkpoints(tmp_path)} == {handler.run_id}
    assert not list(tmp_path.glob("*.tmp"))


def test_pruning_never_deletes_another_runs_file(tmp_path) -> None:
    handler = SSLCheckpointHandler(tmp_path, n_saved=1, resume=False)
    trainer = make_trainer(max_epochs=1, handlers=[handler])
    other = tmp_path / "checkpoint_00000001.pt"
    torch.save({"iteration": 1, "run_id": "other-run"}, other)
    (tmp_path / "checkpoint_00000001.json").write_text('{"run_id": "other-run"}')
    for iteration in (2, 3, 4):
        trainer.state.iteration = iteration
        handler.save(trainer)
    assert [p.name for p in find_checkpoints(tmp_path)] == [other.name, "checkpoint_00000004.pt"]
    assert checkpoint_run_id(other) == "other-run" and latest_checkpoint(tmp_path, handler.run_id)[0].name.endswith(
        "04.pt")


def test_resume_continues_the_run_id_cleans_stale_tmp_and_adopts_legacy_files(tmp_path) -> None:
    first = SSLCheckpointHandler(tmp_path, save_interval=1, n_saved=5, resume=False)
    trainer = make_trainer(max_epochs=1, handlers=[first])
    _stop_after(trainer, 2)
    trainer.run()
    (tmp_path / "checkpoint_00000003.pt.tmp").write_bytes(b"half a checkpoint")  # a crash mid-save
    second = SSLCheckpointHandler(tmp_path, save_interval=1, n_saved=5)
    make_trainer(max_epochs=1, handlers=[second]).run()
    assert second.run_id == first.run_id and second.resumed_from.name == "checkpoint_00000002.pt"
    assert not (tmp_path / "checkpoint_00000003.pt.tmp").exists()
    legacy = tmp_path / "legacy"
    make_trainer(max_epochs=1, handlers=[SSLCheckpointHandler(legacy, save_interval=1, n_saved=5)]).run()
    for sidecar in legacy.glob("*.json"):  # as if written before run ids existed
        sidecar.unlink()
    for path in find_checkpoints(legacy):
        state = torch.load(path, weights_only=True)
        state.pop("run_id")
        torch.save(state, path)
    third = SSLCheckpointHandler(legacy, save_interval=1, n_saved=5)
    make_trainer(max_epochs=2, handlers=[third]).run()  # resumes the id-less run instead of refusing it
    assert {checkpoint_run_id(p) for p in find_checkpoints(legacy)} == {third.run_id}
    with pytest.raises(ValueError, match="'refuse', 'move_aside'"):
        SSLCheckpointHandler(tmp_path, existing="delete")


def test_resume_refuses_a_changed_run_and_says_what_differs(tmp_path) -> None:
    first = make_trainer(batch_size=4, max_epochs=1, handlers=[SSLCheckpointHandler(tmp_path, save_interval=1)])
    first.run()
    changed = make_trainer(batch_size=2, max_epochs=1, handlers=[SSLCheckpointHandler(tmp_path, save_interval=1)])
    with pytest.raises(ResumeMismatchError) as info:
        changed.run()
    message = str(info.value)
    assert "epoch_length: checkpoint 3, this run 6" in message and "global_batch: checkpoint 4, this run 2" in message
    assert "world_size" not in message and "allow_changes=True" in message and "checkpoint_00000003.pt" in message
    other_recipe = make_trainer(batch_size=4, max_epochs=2, config=tiny_config(koleo_loss_weight=0.0),
                                handlers=[SSLCheckpointHandler(tmp_path, save_interval=1)])
    with pytest.raises(ResumeMismatchError, match="recipe: checkpoint"):
        other_recipe.run()
    allowed = make_trainer(batch_size=2, max_epochs=2, handlers=[SSLCheckpointHandler(tmp_path, allow_changes=True)])
    allowed.run()  # a deliberate change is accepted
    assert allowed.state.iteration == 12

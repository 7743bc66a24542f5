"""Fault injection: the guarantees of issue 12 under kill -9, a failing disk and bad files (CPU, tiny setups).

* kill -9 of a pretraining process during a checkpoint write and during a step, then resume: the losses of every
  iteration equal those of an uninterrupted run, bit for bit (subprocesses of ``pretrain_worker.py``);
* a full or read-only checkpoint folder (the write fails with ENOSPC / EROFS): a clear error naming the checkpoint,
  and the last good checkpoint is intact and resumable;
* bad files at 1 %, 10 % and 50 % of a datalist: counted and skipped, or stopped at the configured maximum, in
  training (substituted, epoch length unchanged) and in extraction (left out).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engines"))

from ssl_helpers import make_file_dataset, make_trainer, record_losses  # noqa: E402

import raddino_monai.engines.handlers.checkpoint as checkpoint_module  # noqa: E402
from raddino_monai.data.bad_files import BadFileLog, TooManyBadFilesError  # noqa: E402
from raddino_monai.engines.handlers import (  # noqa: E402
    BadFileHandler,
    CheckpointWriteError,
    SSLCheckpointHandler,
    latest_checkpoint,
)
from raddino_monai.inference import embed_images  # noqa: E402
from raddino_monai.models import create_backbone  # noqa: E402

WORKER = Path(__file__).with_name("pretrain_worker.py")
REPO = Path(__file__).resolve().parents[2]


def _run_worker(out: Path, mode: str) -> int:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(WORKER), str(out), mode], env=env, capture_output=True, timeout=300)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(proc.stdout.decode()[-2000:] + proc.stderr.decode()[-4000:])
    return proc.returncode


def _losses(out: Path) -> dict[int, str]:
    """iteration -> loss repr; a repeated iteration (redone after a resume) keeps its last value."""
    rows = [line.split() for line in (out / "losses.txt").read_text().splitlines()]
    return {int(i): v for i, v in rows}


@pytest.mark.slow
def test_kill_9_during_a_checkpoint_write_and_a_step_then_resume_continues_exactly(tmp_path: Path) -> None:
    reference = tmp_path / "uninterrupted"
    assert _run_worker(reference, "run") == 0
    expected = _losses(reference)
    assert sorted(expected) == [1, 2, 3, 4, 5, 6]
    for mode, last_good in [("kill_in_save", 3), ("kill_in_step", 4)]:
        out = tmp_path / mode
        assert _run_worker(out, mode) == -signal.SIGKILL
        found = latest_checkpoint(out / "ckpt")
        assert found is not None and found[1]["iteration"] == last_good  # nothing truncated was kept
        if mode == "kill_in_save":
            assert (out / "ckpt" / "checkpoint_00000004.pt.tmp").exists()  # the interrupted write
        assert _run_worker(out, "run") == 0  # resume
        assert not list((out / "ckpt").glob("*.tmp"))  # cleaned at the restart
        assert _losses(out) == expected, mode  # every iteration, bit for bit (repr of the float)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_full_or_read_only_checkpoint_folder_gives_a_clear_error_and_keeps_the_last_good_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    real_save = torch.save

    def failing_save(obj: object, f: object, *args: object, **kwargs: object) -> None:
        if isinstance(obj, dict) and obj.get("iteration") == 3:
            f.write(b"half a checkpoint")  # type: ignore[attr-defined]
            raise OSError(error, os.strerror(error))
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    trainer = make_trainer(max_epochs=2, handlers=[SSLCheckpointHandler(tmp_path, save_interval=1)])
    with pytest.raises(CheckpointWriteError) as info:
        trainer.run()
    message = str(info.value)
    assert "checkpoint_00000003.pt" in message and os.strerror(error) in message
    assert "last good checkpoint" in message and "checkpoint_00000002.pt is intact" in message
    assert sorted(p.name for p in tmp_path.glob("checkpoint_*")) == [  # no partial file, no orphan sidecar
        "checkpoint_00000001.json", "checkpoint_00000001.pt", "checkpoint_00000002.json", "checkpoint_00000002.pt"]
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    found = latest_checkpoint(tmp_path)
    assert found is not None and found[1]["iteration"] == 2
    resumed = make_trainer(max_epochs=2, handlers=[SSLCheckpointHandler(tmp_path, save_interval=1)])
    resumed.run()  # the disk is fixed: resume from the last good checkpoint
    assert resumed.state.iteration == 6


def _png_datalist(folder: Path, n: int, bad: set[int]) -> list[str]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:03d}.png"
        Image.fromarray(np.full((28, 28), i, dtype=np.uint8)).save(path)
        if i in bad:
            path.write_bytes(path.read_bytes()[:50])
        paths.append(str(path))
    return paths


#: (share of bad files, max_bad_fraction, stops?)
CASES = [(0.01, 0.05, False), (0.10, 0.05, True), (0.50, 0.50, False), (0.50, 0.10, True)]


@pytest.mark.parametrize(("share", "max_fraction", "stops"), CASES)
def test_bad_file_shares_in_extraction(tmp_path: Path, share: float, max_fraction: float, stops: bool) -> None:
    n = 100
    bad = set(np.random.default_rng(0).choice(n, int(share * n), replace=False).tolist())
    paths = _png_datalist(tmp_path / "images", n, bad)
    log = BadFileLog(n, max_fraction, tmp_path / "bad_files.csv")
    backbone = create_backbone("tiny_vit_p14")
    if stops:
        with pytest.raises(TooManyBadFilesError) as info:
            embed_images(backbone, paths, image_size=28, batch_size=10, progress=False, bad_files=log)
        assert str(info.value).startswith(str(tmp_path / "images")) and f"max_bad_fraction={max_fraction}" in str(
            info.value)
        assert log.count == int(max_fraction * n) + 1  # stopped at the first file over the maximum
        return
    feats = embed_images(backbone, paths, image_size=28, batch_size=10, progress=False, bad_files=log)["cls"]
    assert feats.shape[0] == n - len(bad) and log.count == len(bad)
    assert {int(Path(b.path).stem.rsplit("_", 1)[-1]) for b in BadFileLog.read(tmp_path / "bad_files.csv")} == bad


@pytest.mark.slow
@pytest.mark.parametrize(("share", "max_fraction", "stops"), CASES[:3])
def test_bad_file_shares_in_training(tmp_path: Path, share: float, max_fraction: float, stops: bool) -> None:
    n = 100
    bad = set(np.random.default_rng(0).choice(n, int(share * n), replace=False).tolist())
    dataset = make_file_dataset(tmp_path / "images", n=n, bad=bad)
    handler = BadFileHandler(tmp_path / "run", dataset.dataset, max_bad_fraction=max_fraction)
    trainer = make_trainer(batch_size=10, max_epochs=1, dataset=dataset, handlers=[handler])
    losses = record_losses(trainer)
    if stops:
        with pytest.raises(TooManyBadFilesError, match=f"max_bad_fraction={max_fraction}"):
            trainer.run()
        assert handler.log.count > max_fraction * n and len(losses) < 10
        return
    trainer.run()
    assert len(losses) == 10  # substitution keeps the epoch length
    met = {int(Path(b.path).stem.rsplit("_", 1)[-1]) for b in handler.log.files}
    assert met <= bad and len(met) >= 0.5 * len(bad)  # every bad item the sampler drew (some only as a substitute)
    assert len(BadFileLog.read(tmp_path / "run" / "bad_files.csv")) == handler.log.count

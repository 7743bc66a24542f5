"""RunLock: a second run on one output folder is refused naming the holder; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ssl_helpers import make_trainer

from raddino_monai.engines.handlers import LOCK_NAME, RunLock, RunLockedError, SSLCheckpointHandler, read_lock_holder

REPO = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from raddino_monai.engines.handlers import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def _hold_in_subprocess(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_trainer_on_one_folder_is_refused_and_a_killed_holder_is_taken_over(tmp_path, caplog) -> None:
    holder = _hold_in_subprocess(tmp_path)
    try:
        trainer = make_trainer(max_epochs=1, handlers=[SSLCheckpointHandler(tmp_path / "checkpoints", save_interval=1)],
                               run_lock=RunLock(tmp_path))
        with pytest.raises(RunLockedError) as info:
            trainer.run()
        message = str(info.value)
        assert f"pid {holder.pid} on host {socket.gethostname()}, started 20" in message
        assert str(tmp_path / LOCK_NAME) in message
        assert trainer.state.iteration == 0 and not (tmp_path / "checkpoints").exists()  # refused before any work
    finally:
        holder.kill()  # kill -9: the kernel drops its flock; the lock file still names it
        holder.wait()
    assert read_lock_holder(tmp_path)["pid"] == holder.pid
    with caplog.at_level("WARNING"):
        trainer.run()
    assert trainer.state.iteration == 3 and f"left by pid {holder.pid}" in caplog.text
    assert read_lock_holder(tmp_path) == {}  # released at the end of run()


def test_stale_lock_of_a_dead_pid_is_taken_over(tmp_path, caplog) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                                  "started": "2024-01-01T00:00:00"}))
    with caplog.at_level("WARNING"), RunLock(tmp_path) as lock:
        assert lock.held and read_lock_holder(tmp_path)["pid"] == os.getpid()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):  # a second holder, even in this process
            RunLock(tmp_path).acquire()
        with pytest.raises(RuntimeError, match="already held"):
            lock.acquire()
    assert f"left by pid {dead.pid}" in caplog.text and "2024-01-01" in caplog.text and not lock.held


def test_lock_is_released_when_the_run_fails(tmp_path) -> None:
    trainer = make_trainer(max_epochs=1, handlers=[SSLCheckpointHandler(tmp_path, load_path=tmp_path / "nope.pt")],
                           run_lock=RunLock(tmp_path))
    with pytest.raises(FileNotFoundError):
        trainer.run()
    again = RunLock(tmp_path).acquire()  # free again
    assert again.held
    again.release()

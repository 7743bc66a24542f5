"""RunLock: one run per output folder. A second run (a double-submitted job) is refused, naming the holder.

The lock is ``<folder>/.run.lock``, held with an exclusive ``fcntl.flock`` for as long as the run lasts, and holding
``{"pid", "host", "started", "argv"}`` of the holder. The kernel drops a ``flock`` when its process dies (even by
``kill -9``), so a lock left by a dead process is simply taken over, with a log message naming the dead holder; no
stale-lock heuristics are needed. POSIX only (``fcntl``); on network file systems it is as reliable as their
``flock`` (NFSv4: yes).

Under ``torch.distributed`` only rank 0 takes the lock (the ranks of one job share the folder by design; a lock per
rank would make rank 1 of the same job refuse its own rank 0). A second job is refused by its rank 0, whose error
ends the job (torchrun stops the remaining ranks).

Use it as a context manager around any run, or pass it to :class:`~raddino_monai.engines.SSLTrainer`
(``run_lock=``), which holds it for the whole of ``trainer.run()`` (the bundle does this for ``output_dir``).

Example::

    >>> with RunLock("runs/raddino"):
    ...     trainer.run()
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from raddino_monai.engines.handlers._rank import is_main_process

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "read_lock_holder"]

LOCK_NAME = ".run.lock"
logger = logging.getLogger(__name__)


class RunLockedError(RuntimeError):
    """Another live process holds the output folder's lock; ``holder`` is its recorded ``{"pid", "host", ...}``."""

    def __init__(self, folder: Path, holder: dict[str, Any]) -> None:
        self.folder, self.holder = folder, holder
        who = (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
               f"{holder.get('started', '?')}" if holder else "a process that recorded nothing")
        super().__init__(
            f"output folder {folder} is in use by another run ({who}; lock file {folder / LOCK_NAME}). Two runs in one "
            "folder overwrite each other's checkpoints and exports: wait for it to finish, stop it, or use another "
            "output folder."
        )


def read_lock_holder(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """What the lock file of ``folder`` records (``{}`` if there is none or it is unreadable)."""
    try:
        return dict(json.loads((Path(folder) / LOCK_NAME).read_text() or "{}"))
    except (OSError, ValueError, TypeError):
        return {}


class RunLock:
    """Exclusive lock on an output folder for the duration of a run (rank 0 only under ``torch.distributed``).

    Args:
        folder: the run's output folder (created).

    Raises:
        RunLockedError: (on entering) another live process holds the lock; the message names its pid, host and
            start time.
        RuntimeError: (on entering) this object already holds the lock.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock (a no-op on ranks other than 0); see the class docstring for errors."""
        import fcntl

        if self._fd is not None:
            raise RuntimeError(f"RunLock({self.folder}) is already held by this object.")
        if not is_main_process():
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunLockedError(self.folder, read_lock_holder(self.folder)) from None
        previous = read_lock_holder(self.folder)
        if previous:
            logger.warning("Taking over the lock of %s left by pid %s on host %s (started %s): that process no longer "
                           "holds it.", self.folder, previous.get("pid"), previous.get("host"), previous.get("started"))
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "argv": sys.argv}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder, indent=2) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock and clear the holder record (idempotent)."""
        import fcntl

        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # an empty lock file: nobody holds it
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

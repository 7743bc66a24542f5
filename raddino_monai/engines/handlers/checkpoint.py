"""SSLCheckpointHandler: atomic training checkpoints and exact resume for :class:`~raddino_monai.engines.SSLTrainer`.

A checkpoint holds everything the next iteration depends on: the :class:`StudentTeacher` state (student, teacher,
heads, loss centres), optimizer, GradScaler, iteration/epoch, and the torch / CUDA / NumPy / Python RNG states.
The data position is recomputed from the iteration (``ResumableDistributedSampler`` permutations depend only on
``(seed, epoch)`` and ``SeededDataset`` seeds each item from ``(seed, epoch, index)``, see
:mod:`raddino_monai.engines.data_order`), so a resumed CPU run reproduces the uninterrupted losses bit for bit.

Files are ``checkpoint_<iteration:08d>.pt`` written to a temporary file, flushed, fsync'ed and moved into place with
``os.replace``: a crash mid-save leaves at most a ``*.tmp`` file, never a truncated checkpoint. Only the last
``n_saved`` are kept, and a new one is complete before an old one is deleted. Loading uses
``torch.load(weights_only=True)``; unreadable files are skipped with a warning in favour of the newest good one.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from raddino_monai.engines.handlers._rank import is_main_process

__all__ = ["SSLCheckpointHandler", "find_checkpoints", "latest_checkpoint", "capture_rng_state", "restore_rng_state"]

_NAME_RE = re.compile(r"^checkpoint_(\d+)\.pt$")
logger = logging.getLogger(__name__)


def find_checkpoints(save_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoint files in ``save_dir``, oldest first (temporary files are ignored)."""
    folder = Path(save_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(save_dir: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]] | None:
    """Newest checkpoint in ``save_dir`` that loads (``weights_only=True``), with its content; None if none."""
    for path in reversed(find_checkpoints(save_dir)):
        try:
            return path, torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged file must not block resuming from an older good one
            logger.warning("Skipping unreadable checkpoint %s: %s", path, err)
    return None


def capture_rng_state() -> dict[str, Any]:
    """torch, CUDA, NumPy and Python RNG states as tensors/primitives (loadable with ``weights_only=True``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": [list(random.getstate()[1]), random.getstate()[0], random.getstate()[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    internal, version, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class SSLCheckpointHandler:
    """Save every ``save_interval`` iterations and at the end; resume from the latest good checkpoint at start.

    Args:
        save_dir: checkpoint folder (created).
        save_interval: iterations between checkpoints (0: only at the end of the run).
        n_saved: how many recent checkpoints to keep (>= 1).
        resume: at ``Events.STARTED`` load ``load_path`` or, if None, the newest good checkpoint in ``save_dir``.
        load_path: explicit checkpoint to resume from.
        save_final: also save when the run completes.

    Raises:
        ValueError: ``n_saved < 1`` or ``save_interval < 0``.

    Example::

        >>> SSLCheckpointHandler("runs/ckpt", save_interval=500, n_saved=3).attach(trainer)
    """

    def __init__(
        self,
        save_dir: str | os.PathLike[str],
        save_interval: int = 1000,
        n_saved: int = 3,
        resume: bool = True,
        load_path: str | os.PathLike[str] | None = None,
        save_final: bool = True,
    ) -> None:
        if n_saved < 1 or save_interval < 0:
            raise ValueError(f"need n_saved >= 1 and save_interval >= 0, found {n_saved} and {save_interval}.")
        self.save_dir = Path(save_dir)
        self.save_interval, self.n_saved = save_interval, n_saved
        self.resume, self.load_path, self.save_final = resume, load_path, save_final
        self.resumed_from: Path | None = None

    def attach(self, engine: Engine) -> None:
        """Register resume (STARTED), periodic and final saves."""
        if self.resume or self.load_path is not None:
            engine.add_event_handler(Events.STARTED, self.load)
        if self.save_interval > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.save_interval), self.save)
        if self.save_final:
            engine.add_event_handler(Events.COMPLETED, self.save)

    @staticmethod
    def _model(engine: Engine) -> torch.nn.Module:
        network = engine.network  # type: ignore[attr-defined]
        return network.module if hasattr(network, "module") else network

    def state_dict(self, engine: Engine) -> dict[str, Any]:
        """Everything saved in a checkpoint (tensors and primitives only)."""
        scaler = getattr(engine, "grad_scaler", None)
        return {
            "model": self._model(engine).state_dict(),
            "optimizer": engine.optimizer.state_dict(),  # type: ignore[attr-defined]
            "grad_scaler": scaler.state_dict() if scaler is not None else {},
            "iteration": engine.state.iteration,
            "epoch_length": engine.state.epoch_length,
            "rng": capture_rng_state(),
        }

    def save(self, engine: Engine) -> Path | None:
        """Write ``checkpoint_<iteration>.pt`` atomically (rank 0 only) and prune old ones; returns its path."""
        if not is_main_process():
            return None
        self.save_dir.mkdir(parents=True, exist_ok=True)
        path = self.save_dir / f"checkpoint_{engine.state.iteration:08d}.pt"
        if path.exists() and engine.state.iteration > 0 and path == self._last_saved(engine):
            return path
        _atomic_save(self.state_dict(engine), path)
        engine.state.last_checkpoint = path  # type: ignore[attr-defined]
        for old in find_checkpoints(self.save_dir)[: -self.n_saved]:
            old.unlink(missing_ok=True)
        return path

    @staticmethod
    def _last_saved(engine: Engine) -> Path | None:
        return getattr(engine.state, "last_checkpoint", None)

    def load(self, engine: Engine) -> None:
        """Restore model, optimizer, scaler, RNG states, iteration and data position (every rank).

        Raises:
            FileNotFoundError: ``load_path`` was given and does not exist.
            RuntimeError: the checkpoint's tensors do not fit the model (written with another recipe); the message
                names the file and the first mismatches.
        """
        if self.load_path is not None:
            if not Path(self.load_path).is_file():
                raise FileNotFoundError(f"Checkpoint to resume from not found: {self.load_path}")
            found: tuple[Path, dict[str, Any]] | None = (
                Path(self.load_path),
                torch.load(self.load_path, map_location="cpu", weights_only=True),
            )
        else:
            found = latest_checkpoint(self.save_dir)
        if found is None:
            return
        path, ckpt = found
        try:
            self._model(engine).load_state_dict(ckpt["model"])
        except RuntimeError as err:  # shape / key mismatch: a run with another recipe wrote this checkpoint
            details = "; ".join(line.strip() for line in str(err).splitlines()[1:4])
            raise RuntimeError(
                f"{path}: this checkpoint does not fit the configured model ({details}). It was written by a run with "
                "a different recipe: resume with that recipe, start in a new output directory (bundle: --output_dir), "
                "or disable resuming (SSLCheckpointHandler(resume=False))."
            ) from err
        engine.optimizer.load_state_dict(ckpt["optimizer"])  # type: ignore[attr-defined]
        scaler = getattr(engine, "grad_scaler", None)
        if scaler is not None and ckpt["grad_scaler"]:
            scaler.load_state_dict(ckpt["grad_scaler"])
        restore_rng_state(ckpt["rng"])
        iteration, epoch_length = int(ckpt["iteration"]), engine.state.epoch_length or int(ckpt["epoch_length"])
        engine.state.iteration = iteration
        engine.state.epoch = iteration // epoch_length
        engine.state.last_checkpoint = path  # type: ignore[attr-defined]
        loader = getattr(engine, "data_loader", None)
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "resume"):
            sampler.resume(epoch=iteration // epoch_length, skip=(iteration % epoch_length) * int(loader.batch_size))
        self.resumed_from = path
        logger.info("Resumed SSL training from %s (iteration %d).", path, iteration)

"""SSLCheckpointHandler: atomic training checkpoints and exact resume for :class:`~raddino_monai.engines.SSLTrainer`.

A checkpoint holds everything the next iteration depends on: the :class:`StudentTeacher` state (student, teacher,
heads, loss centres), optimizer, GradScaler, iteration/epoch, and the torch / CUDA / NumPy / Python RNG states.
The data position is recomputed from the iteration (``ResumableDistributedSampler`` permutations depend only on
``(seed, epoch)`` and ``SeededDataset`` seeds each item from ``(seed, epoch, index)``, see
:mod:`raddino_monai.engines.data_order`), so a resumed CPU run reproduces the uninterrupted losses bit for bit.

Files are ``checkpoint_<iteration:08d>.pt`` written to a temporary file, flushed, fsync'ed and moved into place with
``os.replace``, then the folder itself is fsync'ed so the rename survives a power loss: a crash mid-save leaves at
most a ``*.tmp`` file (removed at the next start), never a truncated checkpoint. Loading uses
``torch.load(weights_only=True)``; unreadable files are skipped with a warning in favour of the newest good one.

Runs: every checkpoint belongs to a run, named by a run id kept in the checkpoint (``"run_id"``) and in a small
sidecar ``checkpoint_<iteration:08d>.json`` (so a folder can be inspected without loading gigabytes). A resumed run
keeps the id of the checkpoint it resumes; a fresh run gets a new one. Only the last ``n_saved`` checkpoints *of this
run* are kept (a new one is complete before an old one is deleted); another run's files are never deleted. A fresh
run in a folder that holds another run's checkpoints stops with a message (``existing="refuse"``, default) or moves
them into ``previous_<run id>/`` first (``existing="move_aside"``), so ``latest_checkpoint`` can never return an
older run's file. Checkpoints written before run ids existed count as one unnamed run.

Resume checks: every checkpoint stores its run signature (:mod:`.run_signature`: epoch length, world size, global
batch, datalist fingerprint, recipe hash). Resuming with a different one raises :class:`ResumeMismatchError`, which
says what differs (exact resume would silently replay another data order); ``allow_changes=True`` accepts a
deliberate change with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from raddino_monai.engines.fsdp import (
    is_sharded,
    load_model_state_dict,
    load_optimizer_state_dict,
    model_state_dict,
    optimizer_state_dict,
)
from raddino_monai.engines.handlers._rank import is_main_process
from raddino_monai.engines.handlers.run_signature import run_signature, signature_differences

__all__ = [
    "EXISTING_CHECKPOINT_POLICIES",
    "CheckpointFolderError",
    "ResumeMismatchError",
    "CheckpointWriteError",
    "SSLCheckpointHandler",
    "find_checkpoints",
    "latest_checkpoint",
    "checkpoint_run_id",
    "capture_rng_state",
    "restore_rng_state",
]

_NAME_RE = re.compile(r"^checkpoint_(\d+)\.pt$")
_TMP_RE = re.compile(r"^checkpoint_\d+\.(pt|json)\.tmp$")
#: run id of checkpoints written before run ids existed (no sidecar, no ``"run_id"`` entry)
UNNAMED_RUN = ""
#: accepted values of ``existing``: what a fresh run does with another run's checkpoints in its folder
EXISTING_CHECKPOINT_POLICIES: tuple[str, ...] = ("refuse", "move_aside")
logger = logging.getLogger(__name__)


class CheckpointFolderError(RuntimeError):
    """A checkpoint folder holds another run's checkpoints; the message says which and what to do."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, read-only folder); the message names it and the last good one."""


class ResumeMismatchError(RuntimeError):
    """The checkpoint to resume was written by a run with another epoch length, world size, global batch, datalist
    or recipe; the message lists each difference."""


def find_checkpoints(save_dir: str | os.PathLike[str], run_id: str | None = None) -> list[Path]:
    """Complete checkpoint files in ``save_dir``, oldest first (temporary files are ignored).

    Args:
        save_dir: checkpoint folder.
        run_id: only this run's checkpoints (by sidecar; :data:`UNNAMED_RUN` = those without one); ``None`` = all.
    """
    folder = Path(save_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME_RE.match(p.name))]
    return [p for _, p in sorted(found) if run_id is None or checkpoint_run_id(p) == run_id]


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def checkpoint_run_id(path: str | os.PathLike[str]) -> str:
    """Run id of a checkpoint from its sidecar, without loading the checkpoint; :data:`UNNAMED_RUN` if none."""
    try:
        return str(json.loads(_sidecar(Path(path)).read_text()).get("run_id", UNNAMED_RUN))
    except (OSError, ValueError):
        return UNNAMED_RUN


def latest_checkpoint(
    save_dir: str | os.PathLike[str], run_id: str | None = None
) -> tuple[Path, dict[str, Any]] | None:
    """Newest checkpoint in ``save_dir`` (of ``run_id``, if given) that loads (``weights_only=True``), with its
    content; None if none."""
    for path in reversed(find_checkpoints(save_dir, run_id)):
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


def _fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (POSIX; a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_save(obj: Any, path: Path, sidecar: dict[str, Any] | None = None) -> None:
    """Sidecar first, then the checkpoint, each temp-file + fsync + rename, then fsync the folder."""
    if sidecar is not None:
        _atomic_write(_sidecar(path), lambda f: f.write((json.dumps(sidecar, indent=2) + "\n").encode()))
    _atomic_write(path, lambda f: torch.save(obj, f))
    _fsync_dir(path.parent)


def _new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


class SSLCheckpointHandler:
    """Save every ``save_interval`` iterations and at the end; resume from the latest good checkpoint at start.

    Args:
        save_dir: checkpoint folder (created).
        save_interval: iterations between checkpoints (0: only at the end of the run).
        n_saved: how many recent checkpoints to keep (>= 1).
        resume: at ``Events.STARTED`` load ``load_path`` or, if None, the newest good checkpoint in ``save_dir``.
        load_path: explicit checkpoint to resume from.
        save_final: also save when the run completes.
        existing: what a run that does not resume another run's files does when ``save_dir`` holds another run's
            checkpoints: ``"refuse"`` (raise :class:`CheckpointFolderError`) or ``"move_aside"`` (move them and
            their sidecars into ``save_dir/previous_<run id>/``, with a log message); see
            :data:`EXISTING_CHECKPOINT_POLICIES`.
        allow_changes: resume even when the run signature differs from the checkpoint's (a deliberate change, e.g.
            more GPUs or a longer datalist; logged as a warning, and the data order is then not the interrupted
            run's); default: refuse with :class:`ResumeMismatchError`.

    Attributes:
        run_id: this run's id (set at ``Events.STARTED``).

    Raises:
        ValueError: ``n_saved < 1``, ``save_interval < 0`` or an unknown ``existing`` (valid values listed).

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
        existing: str = "refuse",
        allow_changes: bool = False,
    ) -> None:
        if n_saved < 1 or save_interval < 0:
            raise ValueError(f"need n_saved >= 1 and save_interval >= 0, found {n_saved} and {save_interval}.")
        if existing not in EXISTING_CHECKPOINT_POLICIES:
            raise ValueError(f"existing={existing!r}; valid values: {list(EXISTING_CHECKPOINT_POLICIES)}.")
        self.save_dir = Path(save_dir)
        self.save_interval, self.n_saved = save_interval, n_saved
        self.resume, self.load_path, self.save_final = resume, load_path, save_final
        self.existing = existing
        self.allow_changes = bool(allow_changes)
        self.resumed_from: Path | None = None
        self.run_id: str | None = None

    def attach(self, engine: Engine) -> None:
        """Register the folder check and resume (STARTED), periodic and final saves."""
        engine.add_event_handler(Events.STARTED, self.start)
        if self.save_interval > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.save_interval), self.save)
        if self.save_final:
            engine.add_event_handler(Events.COMPLETED, self.save)

    @staticmethod
    def _model(engine: Engine) -> torch.nn.Module:
        network = engine.network  # type: ignore[attr-defined]
        return network.module if hasattr(network, "module") else network

    def state_dict(self, engine: Engine) -> dict[str, Any]:
        """Everything saved in a checkpoint (tensors and primitives only); model and optimizer in their plain
        (unsharded) format, gathered from FSDP shards when the model is sharded (a collective then, see
        :mod:`raddino_monai.engines.fsdp`)."""
        scaler = getattr(engine, "grad_scaler", None)
        model = self._model(engine)
        return {
            "model": model_state_dict(model),
            "optimizer": optimizer_state_dict(model, engine.optimizer),  # type: ignore[attr-defined]
            "grad_scaler": scaler.state_dict() if scaler is not None else {},
            "iteration": engine.state.iteration,
            "epoch_length": engine.state.epoch_length,
            "rng": capture_rng_state(),
            "signature": run_signature(engine),
        }

    def start(self, engine: Engine) -> None:
        """At ``Events.STARTED``: remove stale ``*.tmp`` files, resume (if asked) and settle this run's id; a fresh
        run then checks the folder for another run's checkpoints (``existing``).

        Raises:
            CheckpointFolderError: ``existing="refuse"`` and ``save_dir`` holds another run's checkpoints.
        """
        self._remove_stale_tmp()
        if self.resume or self.load_path is not None:
            self.load(engine)
        if self.run_id is None:
            self.run_id = _new_run_id()
        self._check_folder()

    def _remove_stale_tmp(self) -> None:
        """Temp files of an interrupted save (the output-folder lock guarantees no other writer)."""
        if not is_main_process() or not self.save_dir.is_dir():
            return
        for tmp in self.save_dir.iterdir():
            orphan = tmp.suffix == ".json" and _NAME_RE.match(tmp.with_suffix(".pt").name) and not tmp.with_suffix(
                ".pt").exists()  # a sidecar whose checkpoint never made it
            if _TMP_RE.match(tmp.name) or orphan:
                logger.warning("Removing %s, left by a save that was interrupted.", tmp)
                tmp.unlink(missing_ok=True)

    def _check_folder(self) -> None:
        foreign = [p for p in find_checkpoints(self.save_dir) if checkpoint_run_id(p) != self.run_id]
        if not foreign:
            return
        runs = sorted({checkpoint_run_id(p) or "<no run id>" for p in foreign})
        found = f"{self.save_dir} holds {len(foreign)} checkpoint(s) of another run ({', '.join(runs)}; newest " \
                f"{foreign[-1].name})"
        if self.existing == "refuse":
            raise CheckpointFolderError(
                f"{found}. This run ({self.run_id}) would mix its checkpoints with them. Resume that run "
                "(resume=True), use another folder (bundle: --output_dir), or pass existing='move_aside' to move "
                "them into a previous_<run id>/ subfolder."
            )
        if not is_main_process():
            return
        for path in foreign:
            target = self.save_dir / f"previous_{checkpoint_run_id(path) or 'unnamed'}"
            target.mkdir(exist_ok=True)
            for file in (path, _sidecar(path)):
                if file.exists():
                    shutil.move(str(file), str(target / file.name))
        _fsync_dir(self.save_dir)
        logger.warning("%s; moved them into %s/previous_*/ (existing='move_aside').", found, self.save_dir)

    def save(self, engine: Engine) -> Path | None:
        """Write ``checkpoint_<iteration>.pt`` (+ sidecar) atomically (rank 0 only) and prune this run's old ones;
        returns its path. A sharded (FSDP) model is gathered on every rank first."""
        gathered = self.state_dict(engine) if is_sharded(self._model(engine)) else None  # collective: all ranks
        if not is_main_process():
            return None
        self.save_dir.mkdir(parents=True, exist_ok=True)
        if self.run_id is None:  # saved without STARTED having run (direct calls)
            self.run_id = _new_run_id()
        path = self.save_dir / f"checkpoint_{engine.state.iteration:08d}.pt"
        if path.exists() and engine.state.iteration > 0 and path == self._last_saved(engine):
            return path
        state = {**(gathered if gathered is not None else self.state_dict(engine)), "run_id": self.run_id}
        sidecar = {"run_id": self.run_id, "iteration": int(engine.state.iteration), "host": socket.gethostname(),
                   "pid": os.getpid(), "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "signature": state["signature"]}
        try:
            _atomic_save(state, path, sidecar)
        except OSError as err:  # disk full, read-only or vanished folder: keep the last good checkpoint, say so
            for partial in (path.with_name(path.name + ".tmp"), _sidecar(path).with_name(_sidecar(path).name + ".tmp")):
                partial.unlink(missing_ok=True)
            if not path.exists():
                _sidecar(path).unlink(missing_ok=True)
            last = self._last_saved(engine)
            kept = f"the last good checkpoint {last} is intact" if last else "no earlier checkpoint of this run exists"
            raise CheckpointWriteError(
                f"could not write checkpoint {path} ({type(err).__name__}: {err}); {kept}. Free space or make "
                f"{self.save_dir} writable, then resume."
            ) from err
        engine.state.last_checkpoint = path  # type: ignore[attr-defined]
        for old in find_checkpoints(self.save_dir, self.run_id)[: -self.n_saved]:
            old.unlink(missing_ok=True)
            _sidecar(old).unlink(missing_ok=True)
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
            ResumeMismatchError: the run signature differs (see the class docstring) and ``allow_changes`` is off.
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
        self._check_signature(path, ckpt, engine)
        self._adopt_run(path, ckpt)
        try:
            load_model_state_dict(self._model(engine), ckpt["model"])
        except RuntimeError as err:  # shape / key mismatch: a run with another recipe wrote this checkpoint
            details = "; ".join(line.strip() for line in str(err).splitlines()[1:4])
            raise RuntimeError(
                f"{path}: this checkpoint does not fit the configured model ({details}). It was written by a run with "
                "a different recipe: resume with that recipe, start in a new output directory (bundle: --output_dir), "
                "or disable resuming (SSLCheckpointHandler(resume=False))."
            ) from err
        load_optimizer_state_dict(self._model(engine), engine.optimizer, ckpt["optimizer"])  # type: ignore[attr-defined]
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
        logger.info("Resumed training from %s (iteration %d, run %s).", path, iteration, self.run_id)

    def _check_signature(self, path: Path, ckpt: dict[str, Any], engine: Engine) -> None:
        saved = ckpt.get("signature")
        if not isinstance(saved, dict):
            logger.warning("%s stores no run signature (written by an older version): resuming without checking "
                           "epoch length, world size, global batch, datalist and recipe.", path)
            return
        differences = signature_differences(saved, run_signature(engine))
        if not differences:
            return
        listed = "; ".join(differences)
        if self.allow_changes:
            logger.warning("Resuming %s although the run changed (allow_changes=True): %s. The data order is not "
                           "the interrupted run's.", path, listed)
            return
        raise ResumeMismatchError(
            f"{path} was written by a run that differs from this one: {listed}. Resuming would not continue that run "
            "exactly. Restore the original settings, start in a new output folder, or pass allow_changes=True "
            "(bundle: --allow_resume_changes true) to accept the change deliberately."
        )

    def _adopt_run(self, path: Path, ckpt: dict[str, Any]) -> None:
        """Continue the resumed checkpoint's run id; a checkpoint from before run ids gets a new id, and it and the
        other id-less checkpoints of its folder are claimed for it (sidecars written) so pruning can see them."""
        run_id = str(ckpt.get("run_id", "") or checkpoint_run_id(path))
        if run_id:
            self.run_id = run_id
            return
        self.run_id = _new_run_id()
        if not is_main_process():
            return
        claimed = [p for p in find_checkpoints(path.parent, UNNAMED_RUN)]
        for old in claimed:
            sidecar = {"run_id": self.run_id, "iteration": int(_NAME_RE.match(old.name).group(1)),  # type: ignore
                       "adopted": True}
            _atomic_write(_sidecar(old), lambda f, s=sidecar: f.write((json.dumps(s, indent=2) + "\n").encode()))
        logger.warning("%s has no run id (written before run ids existed); continuing it as run %s and claiming %d "
                       "id-less checkpoint(s) of %s.", path, self.run_id, len(claimed), path.parent)

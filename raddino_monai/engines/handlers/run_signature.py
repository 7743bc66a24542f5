"""What a resumed run must share with the checkpoint it resumes: the run signature.

Exact resume recomputes the data position from the iteration (:mod:`raddino_monai.engines.handlers.checkpoint`), so
it is only exact when the epoch length, the world size, the global batch, the datalist (its items, in order) and the
recipe are those of the run that wrote the checkpoint. :func:`run_signature` collects them from a running engine,
the checkpoint handler stores them in every checkpoint (and its sidecar), and :func:`signature_differences` lists,
in words, what a resumed run changed; the handler refuses those unless told to accept them.

Example::

    >>> signature_differences({"world_size": 8, "epoch_length": 100}, {"world_size": 4, "epoch_length": 100})
    ['world_size: checkpoint 8, this run 4']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch.distributed as dist
from ignite.engine import Engine

__all__ = ["SIGNATURE_FIELDS", "run_signature", "signature_differences", "datalist_fingerprint"]

#: fields of a run signature, in the order differences are reported
SIGNATURE_FIELDS: tuple[str, ...] = ("epoch_length", "world_size", "global_batch", "datalist", "recipe")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _items(dataset: Any) -> Sequence[Any] | None:
    """The datalist items under dataset wrappers (``SeededDataset`` -> ``SkipBadFiles`` -> MONAI dataset)."""
    for _ in range(8):
        data = getattr(dataset, "data", None)
        if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
            return data
        if not hasattr(dataset, "dataset"):
            return None
        dataset = dataset.dataset
    return None


def datalist_fingerprint(dataset: Any) -> str | None:
    """Hash of the dataset's items in order (their ``image`` paths when they are dicts, else their repr); ``None``
    when the dataset exposes no items (e.g. generated tensors)."""
    items = _items(dataset)
    if items is None:
        return None
    keys = [str(it.get("image", "")) if isinstance(it, Mapping) and isinstance(it.get("image"), str) else None
            for it in items]
    if any(k is None for k in keys):  # in-memory items (tensors): their count is what can be checked cheaply
        return f"{len(items)} in-memory items"
    return f"{len(items)} items, sha256 {_digest(keys)}"


#: config fields that change memory or speed but not the maths of a step: a resume may change them freely
#: (e.g. an FSDP run with activation checkpointing resumed under DDP without it)
EXECUTION_ONLY_FIELDS: frozenset[str] = frozenset({"grad_checkpointing"})


def _without_execution_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_execution_fields(v) for k, v in value.items() if k not in EXECUTION_ONLY_FIELDS}
    if isinstance(value, (list, tuple)):
        return [_without_execution_fields(v) for v in value]
    return value


def _recipe(network: Any) -> str | None:
    model = network.module if hasattr(network, "module") else network
    config = getattr(model, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        return None
    return _digest(_without_execution_fields(dataclasses.asdict(config)))


def run_signature(engine: Engine) -> dict[str, Any]:
    """The signature of ``engine``'s run (``None`` entries: not known for this engine).

    Returns:
        ``{"epoch_length", "world_size", "global_batch", "datalist", "recipe"}``: iterations per epoch, ranks,
        images per step over all ranks, :func:`datalist_fingerprint` of the loader's dataset and a hash of the
        model's config dataclass (``StudentTeacher.config``: the recipe).
    """
    loader = getattr(engine, "data_loader", None)
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    batch = getattr(loader, "batch_size", None)
    return {
        "epoch_length": int(engine.state.epoch_length) if engine.state.epoch_length else None,
        "world_size": world,
        "global_batch": int(batch) * world if batch else None,
        "datalist": datalist_fingerprint(getattr(loader, "dataset", None)),
        "recipe": _recipe(getattr(engine, "network", None)),
    }


def signature_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"<field>: checkpoint <a>, this run <b>"`` for each field known to both that differs."""
    out = []
    for name in SIGNATURE_FIELDS:
        a, b = saved.get(name), current.get(name)
        if a is not None and b is not None and a != b:
            out.append(f"{name}: checkpoint {a}, this run {b}")
    return out

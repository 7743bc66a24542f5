"""Safe checkpoint reading: safetensors, or ``torch.load(weights_only=True)``; never plain unpickling.

The format is detected from the file's bytes, not its name: a safetensors file starts with an 8-byte little-endian
header length followed by ``{``; anything else goes through ``torch.load(..., weights_only=True)``, which refuses
pickled code (custom classes, functions) with an error that names the file.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

__all__ = ["CheckpointError", "is_safetensors_file", "load_checkpoint", "flatten_tensors", "select_prefix"]


class CheckpointError(ValueError):
    """A checkpoint could not be read or does not match what was expected; the message names the file."""


def is_safetensors_file(path: str | Path) -> bool:
    """True when ``path`` starts like a safetensors file (header length, then a JSON object)."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < header_len < 100_000_000


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read every tensor of a checkpoint file as a flat ``{dotted.name: tensor}`` dict on CPU.

    Nested dicts (``{"model": {...}}``, ``{"teacher": {...}}``) are flattened with dots, so a training checkpoint
    gives keys like ``"teacher.backbone.blocks.0.attn.qkv.weight"``; non-tensor leaves are dropped.

    Args:
        path: a ``.safetensors`` or ``torch.save`` file (any name).

    Returns:
        flat tensor dict.

    Raises:
        CheckpointError: missing file, pickled code (refused by ``weights_only=True``), or no tensors at all.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file not found: {path}")
    if is_safetensors_file(path):
        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(f"Cannot read safetensors file {path}: {e}") from e
    try:
        # a file object, so torch.load cannot dispatch on the file name (torch >= 2.13 sends "*.safetensors" names
        # to safetensors); the bytes were already found not to be safetensors
        with open(path, "rb") as f:
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"Refusing to load {path}: it contains pickled code or objects that torch.load(weights_only=True) does "
            f"not allow (only tensors, dicts, lists and numbers are accepted). Re-save it as a plain state_dict or "
            f"as safetensors. Details: {e}"
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"Cannot read checkpoint {path} (expected safetensors or a torch.save file): {e}") from e
    tensors = flatten_tensors(obj)
    if not tensors:
        raise CheckpointError(f"Checkpoint {path} holds no tensors (top-level type {type(obj).__name__}).")
    return tensors


def flatten_tensors(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten nested mappings of tensors into ``{"a.b.c": tensor}``; non-tensor leaves are skipped."""
    if isinstance(obj, torch.Tensor):
        return {prefix.rstrip("."): obj}
    out: dict[str, torch.Tensor] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            out.update(flatten_tensors(value, f"{prefix}{key}."))
    return out


def select_prefix(
    tensors: Mapping[str, torch.Tensor], marker: str, prefix: str | None, source: str | Path
) -> dict[str, torch.Tensor]:
    """Keep the tensors under one prefix (``""``, ``"teacher.backbone."``, ``"dinov2."``...) and strip it.

    Args:
        tensors: flat tensor dict.
        marker: a key every backbone of the format has (e.g. ``"patch_embed.proj.weight"``); the prefixes are the
            parts of the keys before it.
        prefix: the prefix to use; ``None`` picks the only candidate.
        source: file name for error messages.

    Raises:
        CheckpointError: the marker is absent, the prefix is absent, or several prefixes exist and none was chosen.
    """
    prefixes = (k[: -len(marker)] for k in tensors if k.endswith(marker))
    candidates = sorted(p for p in prefixes if p[-1:] in ("", "."))
    if prefix is None:
        if len(candidates) != 1:
            raise CheckpointError(
                f"{source}: found {len(candidates)} backbones (key prefixes {candidates}); pass prefix= to choose one."
            )
        prefix = candidates[0]
    elif prefix not in candidates:
        raise CheckpointError(f"{source}: prefix {prefix!r} not found; backbone key prefixes present: {candidates}.")
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object, with a :class:`CheckpointError` naming the file on failure."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"Cannot read JSON file {path}: {e}") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(data).__name__}.")
    return data

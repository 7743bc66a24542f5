"""Embedding files: resumable shards while extracting, then one ``.npz`` or ``.safetensors`` output.

Layout while running: ``<out>.parts/manifest.json`` (the extraction settings) and ``shard_00000.npz``... each holding
``ids`` and one array per pooling. The final file holds ``ids`` (``.npz``: a unicode array; ``.safetensors``: JSON in
the metadata, since safetensors stores tensors only) and the arrays ``cls`` ``(N, D)``, ``mean`` ``(N, D)``,
``patch`` ``(N, D, h, w)`` that were requested, float32, in input order.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from safetensors import safe_open

__all__ = ["OUTPUT_WRITERS", "ShardStore", "check_output_path", "load_embeddings", "save_embeddings"]


def _save_npz(path: Path, ids: Sequence[str], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    np.savez(path, ids=np.asarray(list(ids), dtype=str), meta=np.asarray(json.dumps(dict(meta))), **arrays)


def _save_safetensors(
    path: Path, ids: Sequence[str], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> None:
    metadata = {"ids": json.dumps(list(ids)), "meta": json.dumps(dict(meta))}
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path), metadata=metadata)


def _load_npz(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as data:
        out: dict[str, Any] = {k: data[k] for k in data.files if k not in ("ids", "meta")}
        out["ids"] = [str(i) for i in data["ids"]]
        out["meta"] = json.loads(str(data["meta"])) if "meta" in data.files else {}
    return out


def _load_safetensors(path: Path) -> dict[str, Any]:
    with safe_open(str(path), "np") as f:
        metadata = f.metadata() or {}
    out: dict[str, Any] = dict(load_file(str(path)))
    out["ids"] = json.loads(metadata.get("ids", "[]"))
    out["meta"] = json.loads(metadata.get("meta", "{}"))
    return out


#: output suffix -> (writer, reader)
OUTPUT_WRITERS: dict[str, tuple[Any, Any]] = {
    ".npz": (_save_npz, _load_npz),
    ".safetensors": (_save_safetensors, _load_safetensors),
}


def _format(path: Path) -> tuple[Any, Any]:
    """(writer, reader) for the file's suffix; raises ValueError listing the valid suffixes."""
    if path.suffix not in OUTPUT_WRITERS:
        raise ValueError(f"Embedding file {path}: suffix must be one of {list(OUTPUT_WRITERS)}, found {path.suffix!r}.")
    return OUTPUT_WRITERS[path.suffix]


def check_output_path(path: str | Path) -> Path:
    """Validate an output file name before any work is done.

    Raises:
        ValueError: unsupported suffix (valid ones listed).
    """
    path = Path(path)
    _format(path)
    return path


def save_embeddings(
    path: str | Path, ids: Sequence[str], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> Path:
    """Write ids + arrays (+ a JSON-able ``meta`` dict) to ``.npz`` or ``.safetensors``.

    Raises:
        ValueError: unsupported suffix (valid ones listed).
    """
    path = Path(path)
    writer, _ = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    writer(tmp, ids, arrays, meta)
    tmp.replace(path)  # atomic: a crash never leaves a half-written output
    return path


def load_embeddings(path: str | Path) -> dict[str, Any]:
    """Read an embedding file written by :func:`save_embeddings` / ``extract_embeddings``.

    Returns:
        ``{"ids": list[str], "meta": dict, "cls": ndarray (N, D), ...}`` (the arrays that were saved).

    Example::

        >>> emb = load_embeddings("cxr_embeddings.npz")
        >>> emb["cls"].shape, emb["ids"][:2]
    """
    path = Path(path)
    _, reader = _format(path)
    if not path.is_file():
        raise FileNotFoundError(f"Embedding file not found: {path}")
    return reader(path)


class ShardStore:
    """Per-batch shards next to the output, so an interrupted extraction resumes where it stopped.

    Args:
        out_path: final output file; shards live in ``<out_path>.parts/``.
        manifest: settings of this extraction; resuming with different settings raises instead of mixing results.
    """

    def __init__(self, out_path: Path, manifest: Mapping[str, Any]) -> None:
        self.folder = out_path.with_name(out_path.name + ".parts")
        self.manifest = json.loads(json.dumps(dict(manifest)))

    def open(self, resume: bool) -> set[str]:
        """Prepare the shard folder; return the ids already done (empty unless resuming).

        Raises:
            ValueError: resuming shards made with other settings (the differing keys are named).
        """
        manifest_path = self.folder / "manifest.json"
        if self.folder.is_dir() and not resume:
            shutil.rmtree(self.folder)
        if self.folder.is_dir() and manifest_path.is_file():
            old = json.loads(manifest_path.read_text())
            diff = sorted(k for k in set(old) | set(self.manifest) if old.get(k) != self.manifest.get(k))
            if diff:
                raise ValueError(
                    f"{self.folder}: partial results were made with different settings ({diff}); delete the folder "
                    f"or pass resume=False to start again."
                )
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(self.manifest, indent=2))
        return {i for shard in self.shards() for i in _load_npz(shard)["ids"]}

    def shards(self) -> list[Path]:
        """Shard files in write order."""
        return sorted(self.folder.glob("shard_*.npz"))

    def write(self, ids: Sequence[str], arrays: Mapping[str, torch.Tensor | np.ndarray]) -> None:
        """Append one shard (atomically)."""
        index = len(self.shards())
        shard = self.folder / f"shard_{index:06d}.npz"
        tmp = self.folder / f"tmp_{index:06d}.npz"
        _save_npz(tmp, ids, {k: np.asarray(v) for k, v in arrays.items()}, {})
        tmp.replace(shard)

    def collect(self, order: Sequence[str]) -> dict[str, np.ndarray]:
        """Concatenate all shards into arrays ordered like ``order``.

        Raises:
            RuntimeError: some ids of ``order`` have no result.
        """
        rows: dict[str, dict[str, np.ndarray]] = {}
        for shard in self.shards():
            data = _load_npz(shard)
            for n, image_id in enumerate(data["ids"]):
                rows[image_id] = {k: v[n] for k, v in data.items() if k not in ("ids", "meta")}
        missing = [i for i in order if i not in rows]
        if missing:
            raise RuntimeError(f"{self.folder}: no result for {len(missing)} ids, e.g. {missing[:5]}")
        keys = list(rows[order[0]]) if order else []
        return {k: np.stack([rows[i][k] for i in order]) for k in keys}

    def remove(self) -> None:
        """Delete the shard folder (after the final output is written)."""
        shutil.rmtree(self.folder, ignore_errors=True)

"""Batched frozen-feature extraction: chest X-rays -> CLS / mean-patch / patch-grid embeddings with image ids.

Images go through ``LoadCXRd`` + ``raddino_preprocessing`` (by default the ``"pil"`` backend: microsoft/rad-dino's
``BitImageProcessor`` bit for bit — short side -> 518 bicubic on the uint8 image, centre crop, mean 0.5307 /
std 0.2583 [HF]) and the backbone in eval mode; CLS is ``last_hidden_state[:, 0]`` and the patch grid
``last_hidden_state[:, 1:]`` reshaped to ``(D, h, w)`` [CARD].
Results are written per batch to shards, so a rerun with ``resume=True`` skips finished ids; ``cache_dir`` keeps the
preprocessed ``(3, S, S)`` tensors (safetensors, keyed by file path, size, mtime and preprocessing settings) so that
extracting again with another checkpoint skips decoding and resizing.

Agreement with the model-card path ([CARD] and the ``rad_dino`` package: ``AutoImageProcessor(use_fast=False)`` +
``AutoModel``, one image at a time), tested on sample images incl. the hardest ones for a float resize: the
preprocessed pixels are identical, and CLS / patch features agree up to float rounding of batched vs single forward
passes (``atol 1e-5``). With ``resize_backend="torch"`` (float resize, no uint8 rounding) pixels differ by up to 18
grey levels next to burnt-in text (sample PNGs at 518 px) and patch-token cosine similarity drops to about 0.998.
``bf16=True`` adds bfloat16 rounding (about 3 significant digits).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from monai.transforms import Compose
from monai.utils import convert_to_tensor
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from raddino_monai.data.datalist import load_datalist, validate_datalist
from raddino_monai.inference.embedding_store import ShardStore, check_output_path, save_embeddings
from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.factory import create_backbone
from raddino_monai.transforms import RADDINO_PREPROCESS, LoadCXRd, raddino_preprocessing
from raddino_monai.transforms.io import cxr_reader_for

__all__ = ["POOLINGS", "resolve_inputs", "extract_embeddings"]

logger = logging.getLogger(__name__)


def _cls(feats: dict[str, torch.Tensor]) -> torch.Tensor:
    return feats["cls_token"]


def _mean(feats: dict[str, torch.Tensor]) -> torch.Tensor:
    return feats["patch_tokens"].mean(dim=1)


def _patch(feats: dict[str, torch.Tensor]) -> torch.Tensor:
    return feats["patch_grid"]


#: pooling name -> function of ``backbone.forward_features`` output:
#: ``cls`` (B, D), ``mean`` (B, D), ``patch`` (B, D, h, w)
POOLINGS = {"cls": _cls, "mean": _mean, "patch": _patch}


def _relative(path: str, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def resolve_inputs(
    inputs: str | Path | Sequence[str | Path], split: str | Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """Turn a datalist file, an image folder or a list of paths into ``(ids, paths)``.

    Ids: a datalist item's ``id`` if it has one, else its image path relative to the datalist folder; for a folder,
    the path relative to it (all files ``LoadCXR`` can read, recursively, sorted); for a list, the paths as given.

    Raises:
        FileNotFoundError: ``inputs`` does not exist.
        DatalistError: malformed datalist items or list entries (index, key and problem named).
        ValueError: no images, or duplicate ids (listed).
    """
    if isinstance(inputs, (str, os.PathLike)):
        root = Path(inputs)
        if root.is_dir():
            paths = sorted(p for p in root.rglob("*") if p.is_file() and cxr_reader_for(p) is not None)
            pairs = [(p.relative_to(root).as_posix(), str(p)) for p in paths]
        elif root.is_file():
            items = load_datalist(root, split=split)
            pairs = [
                (str(it["id"]) if "id" in it else _relative(it["image"], root.parent), str(it["image"])) for it in items
            ]
        else:
            raise FileNotFoundError(f"extract_embeddings: inputs {root} is neither a folder nor a datalist file.")
    else:
        validate_datalist([{"image": p} for p in inputs], check_files=False, source="extract_embeddings inputs")
        pairs = [(str(p), str(p)) for p in inputs]
    if not pairs:
        raise ValueError(f"extract_embeddings: no images found in {inputs!r}.")
    ids = [i for i, _ in pairs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if duplicates:
        raise ValueError(f"extract_embeddings: duplicate image ids {duplicates[:10]}")
    return ids, [p for _, p in pairs]


class _ImageDataset(Dataset):
    """``(index, (3, S, S) float32 tensor)`` for each path, through LoadCXRd + raddino_preprocessing.

    Loading runs outside the ``Compose`` so that a bad file raises ``CXRLoadError`` (naming it), not MONAI's
    generic ``RuntimeError`` wrapper. Outputs are plain tensors (no ``MetaTensor`` in the model or the collate).

    Args:
        paths: image files.
        load: the loader.
        preprocess: the preprocessing chain.
        cache_dir: folder of cached preprocessed tensors, or ``None``.
        cache_tag: the preprocessing settings, part of every cache key.
    """

    def __init__(
        self,
        paths: Sequence[str],
        load: LoadCXRd,
        preprocess: Compose,
        cache_dir: Path | None = None,
        cache_tag: str = "",
    ) -> None:
        self.paths, self.load, self.preprocess = list(paths), load, preprocess
        self.cache_dir, self.cache_tag = cache_dir, cache_tag

    def __len__(self) -> int:
        return len(self.paths)

    def _cache_file(self, path: str) -> Path | None:
        if self.cache_dir is None:
            return None
        stat = os.stat(path)
        key = json.dumps([os.path.abspath(path), stat.st_size, stat.st_mtime_ns, self.cache_tag])
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.safetensors"

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor]:
        path = self.paths[index]
        cache_file = self._cache_file(path)
        if cache_file is not None and cache_file.is_file():
            return index, load_file(str(cache_file))["image"]
        image = self.preprocess(self.load({"image": path}))["image"]
        image = convert_to_tensor(image, dtype=torch.float32, track_meta=False).contiguous()
        if cache_file is not None:
            tmp = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp")
            save_file({"image": image}, str(tmp))
            tmp.replace(cache_file)  # atomic: concurrent workers never read a half-written file
        return index, image


def extract_embeddings(
    inputs: str | Path | Sequence[str | Path],
    out_path: str | Path,
    *,
    backbone: RadDinoBackbone | None = None,
    weights: str | Path | None = None,
    arch: str = "raddino_vitb14",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    pooling: Sequence[str] = ("cls", "mean"),
    num_workers: int = 0,
    resume: bool = True,
    image_size: int | None = None,
    fit: str = "crop",
    split: str | Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    resize_backend: str = RADDINO_PREPROCESS.resize_backend,
) -> Path:
    """Extract frozen embeddings for many images into one ``.npz`` or ``.safetensors`` file.

    Args:
        inputs: datalist (JSON/CSV, see :func:`raddino_monai.data.datalist.load_datalist`), image folder, or list of
            image paths (PNG/JPEG/DICOM/NIfTI).
        out_path: output file, ``.npz`` or ``.safetensors``.
        backbone: model to use; if ``None``, ``create_backbone(arch, weights=weights)``.
        weights: HF folder or DINOv2/HF checkpoint (used when ``backbone`` is None; ``None`` = random init).
        arch: architecture name for ``weights``.
        batch_size: images per forward pass (and per shard).
        device: torch device, e.g. ``"cpu"`` or ``"cuda:0"``.
        bf16: bfloat16 autocast for the forward pass (outputs are stored as float32).
        pooling: any of ``"cls"`` (B, D), ``"mean"`` (mean of patch tokens, B, D), ``"patch"`` (B, D, h, w). The
            patch grid is large (ViT-B at 518 px: 768x37x37 floats = 4.2 MB per image), hence not a default.
        num_workers: DataLoader workers for loading/preprocessing.
        resume: keep shards of an earlier interrupted run with the same settings and skip their ids; ``False``
            starts again.
        image_size: preprocessing output side; default: the backbone's ``image_size`` (518 for RAD-DINO).
        fit: ``"crop"`` (RAD-DINO default), ``"pad"`` or ``"resize"`` (see ``raddino_preprocessing``).
        split: datalist section(s) to use; ``None`` = all.
        cache_dir: keep preprocessed tensors here and reuse them in later runs (e.g. the same images with another
            checkpoint); ``None`` = no cache. Keys include the file's size and mtime, so edited images are redone.
        progress: show a tqdm bar.
        resize_backend: ``"pil"`` (the processor bit for bit) or ``"torch"`` (float resize; see module docstring).

    Returns:
        ``out_path``; read it with :func:`~raddino_monai.inference.embedding_store.load_embeddings`. Resuming
        with a ``backbone`` argument cannot tell two models of the same shape apart: use a new ``out_path`` (or
        ``resume=False``) when the weights change.

    Raises:
        ValueError: unknown pooling / fit / suffix (valid values listed), no images, duplicate ids, or resuming shards
            made with other settings.
        CXRLoadError: an image cannot be read (the message names the file).

    Example::

        >>> extract_embeddings("datalist.json", "emb.npz", weights="/models/rad-dino", batch_size=8)
    """
    out_path = check_output_path(out_path)
    unknown = [p for p in pooling if p not in POOLINGS]
    if unknown or not pooling:
        raise ValueError(
            f"extract_embeddings: pooling must be a non-empty subset of {list(POOLINGS)}, got {list(pooling)}."
        )
    ids, paths = resolve_inputs(inputs, split)
    source = {"arch": arch, "weights": str(weights) if weights is not None else None}
    if backbone is None:
        backbone = create_backbone(arch, weights=weights)
    else:
        source = {"arch": "<backbone argument>", "weights": None}
    size = int(image_size or backbone.config.image_size)
    meta = {
        **source,
        "embed_dim": backbone.embed_dim,
        "num_layers": backbone.num_layers,
        "patch_size": backbone.patch_size,
        "image_size": size,
        "fit": fit,
        "resize_backend": resize_backend,
        "pooling": list(pooling),
        "bf16": bool(bf16),
    }
    preprocess = raddino_preprocessing("image", size, fit, resize_backend=resize_backend)  # validates fit, backend
    store = ShardStore(out_path, meta)
    done = store.open(resume)
    todo = [n for n, i in enumerate(ids) if i not in done]
    if done:
        logger.info("extract_embeddings: resuming, %d of %d images already done", len(ids) - len(todo), len(ids))
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
    tag = json.dumps({"image_size": size, "fit": fit, "resize_backend": resize_backend})
    dataset = _ImageDataset([paths[n] for n in todo], LoadCXRd("image"), preprocess, cache, tag)
    device = torch.device(device)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    backbone = backbone.to(device).eval()
    # one autocast context for the whole loop: its cache keeps the bf16 copies of the weights across batches
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    with torch.inference_mode(), autocast:
        for index, images in tqdm(loader, desc="embeddings", disable=not progress, unit="batch"):
            feats = backbone.forward_features(images.to(device, non_blocking=True))
            arrays = {name: POOLINGS[name](feats).float().cpu().numpy() for name in pooling}
            store.write([ids[todo[int(k)]] for k in index], arrays)
    results: dict[str, np.ndarray] = store.collect(ids)
    save_embeddings(out_path, ids, results, meta)
    store.remove()
    return out_path


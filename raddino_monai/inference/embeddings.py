"""Batched frozen-feature extraction, the package's one path from image files to pooled features.

:func:`embed_images` returns the features in memory (probes, metadata probes, the SSL evidence experiment);
:func:`extract_embeddings` writes them, with image ids, to one file (CLI ``tools/extract_embeddings.py``), sharded
and resumable. Both run the same loop: the poolings of :data:`raddino_monai.inference.pooling.POOLINGS`.

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
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose
from monai.utils import convert_to_tensor
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from raddino_monai.data.bad_files import (
    BadFileLog,
    SkipBadCollate,
    SkipBadFiles,
    TooManyBadFilesError,
    batches_without_bad_files,
)
from raddino_monai.data.datalist import load_datalist, validate_datalist
from raddino_monai.inference.embedding_store import ShardStore, check_output_path, save_embeddings
from raddino_monai.inference.pooling import N_LAST_BLOCKS, POOLINGS, check_poolings, pool_features
from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.factory import create_backbone
from raddino_monai.transforms import RADDINO_PREPROCESS, LoadCXRd, raddino_preprocessing
from raddino_monai.transforms.io import cxr_reader_for

__all__ = ["POOLINGS", "resolve_inputs", "embed_images", "extract_embeddings"]

logger = logging.getLogger(__name__)


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
    """``{"index", "image": (3, S, S) float32 tensor}`` for each path, through LoadCXRd + raddino_preprocessing.

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

    @property
    def data(self) -> list[dict[str, str]]:
        """``{"image": path}`` per item (names the file of a load error, :class:`SkipBadFiles`)."""
        return [{"image": p} for p in self.paths]

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        cache_file = self._cache_file(path)
        if cache_file is not None and cache_file.is_file():
            return {"index": index, "image": load_file(str(cache_file))["image"]}
        image = self.preprocess(self.load({"image": path}))["image"]
        image = convert_to_tensor(image, dtype=torch.float32, track_meta=False).contiguous()
        if cache_file is not None:
            tmp = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp")
            save_file({"image": image}, str(tmp))
            tmp.replace(cache_file)  # atomic: concurrent workers never read a half-written file
        return {"index": index, "image": image}


def _embedding_loop(
    backbone: nn.Module,
    dataset: Dataset,
    pooling: Sequence[str],
    sink: Callable[[list[int], dict[str, np.ndarray]], None],
    n_last_blocks: int = N_LAST_BLOCKS,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    num_workers: int = 0,
    progress: bool = True,
    desc: str = "embeddings",
    bad_files: BadFileLog | None = None,
) -> BadFileLog:
    """Run ``backbone`` in eval mode over ``dataset`` (``{"index", "image": (3, S, S)}`` items) and hand every
    batch's poolings, as float32 NumPy arrays, to ``sink(indices, arrays)``.

    Items whose file cannot be loaded are skipped and recorded in ``bad_files`` (default: a strict log, which stops
    at the first one with :class:`~raddino_monai.data.bad_files.TooManyBadFilesError` naming it); returns the log.
    """
    log = bad_files if bad_files is not None else BadFileLog(len(dataset), 0.0)
    device = torch.device(device)
    loader = DataLoader(
        SkipBadFiles(dataset), batch_size=batch_size, shuffle=False, num_workers=num_workers,
        pin_memory=device.type == "cuda", collate_fn=SkipBadCollate(),
    )
    backbone = backbone.to(device).eval()
    # one autocast context for the whole loop: its cache keeps the bf16 copies of the weights across batches
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    with torch.inference_mode(), autocast:
        bar = tqdm(total=len(loader), desc=desc, disable=not progress, unit="batch", leave=False)
        for batch in batches_without_bad_files(_counted(loader, bar), log):
            images = batch["image"]
            pooled = pool_features(backbone, images.to(device, non_blocking=True), pooling, n_last_blocks)
            sink([int(k) for k in batch["index"]], {name: t.float().cpu().numpy() for name, t in pooled.items()})
        bar.close()
    return log


def _counted(loader: DataLoader, bar: tqdm) -> Any:
    for batch in loader:
        bar.update(1)
        yield batch


def _preprocessed_images(
    paths: Sequence[str], preprocess: Compose, size: int, fit: str, resize_backend: str,
    cache_dir: str | Path | None = None,
) -> _ImageDataset:
    """The images through ``LoadCXRd`` + ``preprocess`` (``raddino_preprocessing(size, fit, resize_backend)``),
    optionally cached (the settings are part of every cache key, so a cache of one backend is never reused for
    another)."""
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
    tag = json.dumps({"image_size": size, "fit": fit, "resize_backend": resize_backend})
    return _ImageDataset(paths, LoadCXRd("image"), preprocess, cache, tag)


def embed_images(
    backbone: nn.Module,
    paths: Sequence[str | Path],
    *,
    pooling: Sequence[str] = ("cls",),
    n_last_blocks: int = N_LAST_BLOCKS,
    image_size: int | None = None,
    fit: str = "crop",
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    num_workers: int = 0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    desc: str = "embeddings",
    resize_backend: str = RADDINO_PREPROCESS.resize_backend,
    bad_files: BadFileLog | None = None,
) -> dict[str, np.ndarray]:
    """Pooled frozen features of image files, in memory, in the order of ``paths``.

    Unreadable images: by default the first one stops the call with a
    :class:`~raddino_monai.data.bad_files.TooManyBadFilesError` naming it. With a ``bad_files`` log they are skipped
    and recorded there (``BadFile.index`` = position in ``paths``) until its ``max_bad_fraction`` is exceeded; the
    arrays then hold the readable images only, still in the order of ``paths``.

    Args:
        backbone: a :class:`~raddino_monai.models.RadDinoBackbone` (set to eval mode; no gradients are computed).
        paths: image files (PNG/JPEG/DICOM/NIfTI).
        pooling: keys of :data:`~raddino_monai.inference.pooling.POOLINGS`.
        n_last_blocks: blocks for ``"last_n_cls"``.
        image_size: preprocessing output side; default: the backbone's ``config.image_size`` ([HF] 518 for RAD-DINO).
        fit: ``"crop"`` (RAD-DINO), ``"pad"`` or ``"resize"`` (see ``raddino_preprocessing``).
        batch_size: images per forward pass.
        device: torch device.
        bf16: bfloat16 autocast for the forward pass (outputs are float32).
        num_workers: DataLoader workers for loading/preprocessing.
        cache_dir: keep preprocessed tensors here and reuse them later (see :func:`extract_embeddings`).
        progress: show a tqdm bar.
        desc: progress-bar label.
        resize_backend: ``"pil"`` (the processor bit for bit) or ``"torch"`` (float resize; see module docstring).
        bad_files: skip and count unreadable images here (see above); ``None``: stop at the first one.

    Returns:
        pooling name -> ``(N, F)`` float32 array (``(N, D, h, w)`` for ``"patch"``); ``N = len(paths)`` minus the
        skipped images.

    Raises:
        ValueError: no paths, or an unknown pooling or fit (valid values listed).
        TooManyBadFilesError: (a ``CXRLoadError``) an image cannot be read and no more may be skipped; the message
            starts with the file.

    Example::

        >>> feats = embed_images(create_backbone("tiny_vit_p16"), ["a.png", "b.png"], image_size=112)
        >>> feats["cls"].shape
        (2, 192)
    """
    pooling = check_poolings(pooling)
    if not paths:
        raise ValueError("embed_images: no image paths given.")
    size = int(image_size or backbone.config.image_size)
    preprocess = raddino_preprocessing("image", size, fit, resize_backend=resize_backend)
    dataset = _preprocessed_images([str(p) for p in paths], preprocess, size, fit, resize_backend, cache_dir)
    batches: dict[str, list[np.ndarray]] = {name: [] for name in pooling}

    def collect(indices: list[int], arrays: dict[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            batches[name].append(array)

    _embedding_loop(backbone, dataset, pooling, collect, n_last_blocks, batch_size, device, bf16, num_workers,
                    progress, desc, bad_files)
    if not any(batches.values()) and bad_files is not None and bad_files.count:
        raise TooManyBadFilesError(bad_files)  # every image was bad: nothing to return
    return {name: np.concatenate(arrays) for name, arrays in batches.items()}


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
    n_last_blocks: int = N_LAST_BLOCKS,
    num_workers: int = 0,
    resume: bool = True,
    image_size: int | None = None,
    fit: str = "crop",
    split: str | Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    resize_backend: str = RADDINO_PREPROCESS.resize_backend,
    max_bad_fraction: float = 0.0,
) -> Path:
    """Extract frozen embeddings for many images into one ``.npz`` or ``.safetensors`` file.

    Unreadable images are skipped and counted up to ``max_bad_fraction`` of the inputs: each is logged with its path
    and reason, left out of the output, and listed in ``<out_path stem>.bad_files.csv`` (+ ``.json``) beside it.

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
        pooling: keys of :data:`~raddino_monai.inference.pooling.POOLINGS`: ``"cls"`` (B, D), ``"mean"`` (mean of
            patch tokens, B, D), ``"patch"`` (B, D, h, w), ``"cls_patchmean"`` (B, 2D), ``"last_n_cls"`` (B, nD). The
            patch grid is large (ViT-B at 518 px: 768x37x37 floats = 4.2 MB per image), hence not a default.
        n_last_blocks: blocks for ``"last_n_cls"``.
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
        max_bad_fraction: largest share of unreadable images that is skipped; ``0`` (default: an embedding file
            holds every input) stops at the first one with an error naming it. Finished shards stay, so a rerun
            resumes after the file is fixed or the maximum raised.

    Returns:
        ``out_path``; read it with :func:`~raddino_monai.inference.embedding_store.load_embeddings`. Resuming
        with a ``backbone`` argument cannot tell two models of the same shape apart: use a new ``out_path`` (or
        ``resume=False``) when the weights change.

    Raises:
        ValueError: unknown pooling / fit / suffix (valid values listed), no images, duplicate ids, or resuming shards
            made with other settings.
        TooManyBadFilesError: (a ``CXRLoadError``) more than ``max_bad_fraction`` of the images cannot be read; the
            message starts with the first such file.

    Example::

        >>> extract_embeddings("datalist.json", "emb.npz", weights="/models/rad-dino", batch_size=8)
    """
    out_path = check_output_path(out_path)
    pooling = check_poolings(pooling)
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
        **({"n_last_blocks": n_last_blocks} if any(POOLINGS[p].uses_blocks for p in pooling) else {}),
    }
    preprocess = raddino_preprocessing("image", size, fit, resize_backend=resize_backend)  # validates fit, backend
    store = ShardStore(out_path, meta)
    done = store.open(resume)
    todo = [n for n, i in enumerate(ids) if i not in done]
    if done:
        logger.info("extract_embeddings: resuming, %d of %d images already done", len(ids) - len(todo), len(ids))
    dataset = _preprocessed_images([paths[n] for n in todo], preprocess, size, fit, resize_backend, cache_dir)
    bad_path = out_path.with_name(f"{out_path.stem}.bad_files.csv")
    log = BadFileLog(len(ids), max_bad_fraction, bad_path)

    def write(indices: list[int], arrays: dict[str, np.ndarray]) -> None:
        store.write([ids[todo[k]] for k in indices], arrays)

    _embedding_loop(backbone, dataset, pooling, write, n_last_blocks, batch_size, device, bf16, num_workers,
                    progress, bad_files=log)
    skipped = {ids[todo[bad.index]] for bad in log.files}
    kept = [i for i in ids if i not in skipped]
    if not kept:
        raise TooManyBadFilesError(log)
    if log.count:
        logger.warning("extract_embeddings: skipped %d of %d images that could not be loaded; listed in %s",
                       log.count, len(ids), bad_path)
    results: dict[str, np.ndarray] = store.collect(kept)
    save_embeddings(out_path, kept, results, meta)
    store.remove()
    return out_path


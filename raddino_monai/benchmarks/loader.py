"""Multi-crop loader benchmark: items/s per worker count against what the SSL step consumes.

The pipeline is the pretraining bundle's (``bundles/raddino/configs/train.json``): ``LoadCXRd`` ->
``ResizeShortestEdged(global_size)`` (deterministic, so cacheable) -> ``MultiCropd`` -> ``SeededDataset`` ->
``ResumableDistributedSampler`` -> ``SSLCollate`` (iBOT masks), at a crop recipe (default RAD-DINO: 518 px globals,
196 px locals x 8, masks). :func:`stage_costs` splits one item's cost into load, resize, multi-crop and collate, so
the stage that starves the step is visible; :func:`benchmark_loader` times the DataLoader per worker count, with the
resize cached (``cache="memory"``, what the bundle does with ``cache_rate`` 1) or not (``"none"``).

The GPU recipe's consumption is on paper: images/s per GPU = ``mfu * peak FLOP/s / FLOPs per image`` (FLOPs per
image counted on the recipe's model, :func:`~raddino_monai.benchmarks.ssl_step.step_flops`); workers needed for
twice that = ``2 * consumption / per-worker items/s``.

Example::

    >>> benchmark_loader(workers=(0, 1), n_images=8, batch_size=4)  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import monai
import numpy as np
import torch
from PIL import Image

from raddino_monai.benchmarks.timing import median
from raddino_monai.data.collate import SSLCollate
from raddino_monai.data.datasets import build_dataset
from raddino_monai.data.masking import MaskingConfig
from raddino_monai.data.samplers import ResumableDistributedSampler, SeededDataset
from raddino_monai.data.synthetic import make_synthetic_cxr
from raddino_monai.transforms import LoadCXRd, MultiCropConfig, MultiCropd, ResizeShortestEdged

__all__ = ["build_ssl_loader", "benchmark_loader", "gpu_consumption", "stage_costs", "write_test_images"]

#: A100 dense bf16 peak (NVIDIA A100 datasheet), the paper's GPU [PAPER]
A100_BF16_FLOP_S = 312e12


def write_test_images(folder: str | Path, n: int = 16, size: int = 1024, seed: int = 0) -> list[dict[str, str]]:
    """Write ``n`` synthetic 8-bit ``size`` x ``size`` radiographs as PNG; returns datalist items."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        image, _ = make_synthetic_cxr((size, size), seed=seed + i)
        path = folder / f"cxr{i:03d}.png"
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
        items.append({"image": str(path)})
    return items


def build_ssl_loader(
    items: Sequence[dict[str, Any]],
    crops: MultiCropConfig,
    patch_size: int = 14,
    masking: MaskingConfig | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    cache: str = "none",
    seed: int = 0,
    pin_memory: bool = False,
    persistent_workers: bool = True,
    prefetch_factor: int | None = 2,
) -> torch.utils.data.DataLoader:
    """The bundle's SSL DataLoader over ``items`` (see module docstring); seeded, so batches do not depend on workers.

    Args:
        cache: ``"memory"`` caches load + resize (:func:`~raddino_monai.data.datasets.build_dataset`), ``"none"``
            redoes them per item.
        pin_memory: page-locked batches (for CUDA copies).
        persistent_workers: keep workers between epochs (ignored without workers).
        prefetch_factor: batches each worker prepares ahead (ignored without workers).
    """
    transform = monai.transforms.Compose(
        [LoadCXRd("image"), ResizeShortestEdged("image", size=crops.global_size), MultiCropd("image", crops)]
    )
    dataset = SeededDataset(build_dataset(list(items), transform, cache=cache, skip_bad_files=False), seed=seed)
    workers = {"persistent_workers": persistent_workers, "prefetch_factor": prefetch_factor} if num_workers else {}
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ResumableDistributedSampler(dataset, seed=seed, num_replicas=1, rank=0),
        collate_fn=SSLCollate(patch_size, masking, seed=seed),
        num_workers=num_workers,
        drop_last=True,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
        **workers,
    )


def stage_costs(items: Sequence[dict[str, Any]], crops: MultiCropConfig, patch_size: int = 14,
                batch_size: int = 4) -> dict[str, float]:
    """Median seconds per item of each pipeline stage in this process: ``load``, ``resize``, ``multicrop``,
    ``collate`` (per item of a batch of ``batch_size``)."""
    load, resize, multicrop = LoadCXRd("image"), ResizeShortestEdged("image", size=crops.global_size), MultiCropd(
        "image", crops, seed=0)
    times: dict[str, list[float]] = {"load": [], "resize": [], "multicrop": [], "collate": []}
    samples = []
    for item in items:
        start = time.perf_counter()
        d = load(dict(item))
        t1 = time.perf_counter()
        d = resize(d)
        t2 = time.perf_counter()
        d = multicrop(d)
        t3 = time.perf_counter()
        times["load"].append(t1 - start)
        times["resize"].append(t2 - t1)
        times["multicrop"].append(t3 - t2)
        samples.append(d)
    collate = SSLCollate(patch_size, seed=0)
    for i in range(0, len(samples) - batch_size + 1, batch_size):
        start = time.perf_counter()
        collate([dict(s) for s in samples[i : i + batch_size]])
        times["collate"].append((time.perf_counter() - start) / batch_size)
    return {name: median(values) for name, values in times.items()}


def _items_per_s(loader: torch.utils.data.DataLoader, n_batches: int) -> tuple[float, float]:
    """(items/s after the first batch, seconds to the first batch)."""
    start = time.perf_counter()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter() - start
    start = time.perf_counter()
    count = 0
    for _ in range(n_batches):
        try:
            batch = next(iterator)
        except StopIteration:
            break
        count += batch["global_crops"].shape[0] // max(batch["n_global_crops"], 1)
    return count / max(time.perf_counter() - start, 1e-9), first


def benchmark_loader(
    recipe: str = "raddino",
    workers: Sequence[int] = (0, 1, 2),
    caches: Sequence[str] = ("none", "memory"),
    n_images: int = 16,
    image_size: int = 1024,
    batch_size: int = 4,
    n_batches: int | None = None,
    image_dir: str | None = None,
) -> dict[str, Any]:
    """DataLoader items/s per cache mode and worker count at a crop recipe (one pass each after the first batch).

    Args:
        recipe: ``MultiCropConfig`` recipe.
        workers: worker counts to time.
        caches: ``"none"`` and/or ``"memory"`` (see :func:`build_ssl_loader`).
        n_images: images (synthetic ``image_size`` px PNGs unless ``image_dir``).
        image_size: side of the synthetic images (prepared CXR datasets are ~1024 px).
        batch_size: loader batch.
        n_batches: batches timed per configuration; default all after the first.
        image_dir: folder of PNG/JPEG images to use instead.

    Returns:
        ``{"recipe", "stages" (s per item per stage), "items_per_s": {"<cache>/<workers>": items/s},
        "first_batch_s": {...}}``.

    Raises:
        ValueError: fewer than two batches of images.
    """
    crops = MultiCropConfig.from_recipe(recipe)
    with tempfile.TemporaryDirectory() as tmp:
        if image_dir:
            paths = sorted(p for p in Path(image_dir).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            items = [{"image": str(p)} for p in paths[:n_images]]
        else:
            items = write_test_images(tmp, n_images, image_size)
        if len(items) < 2 * batch_size:
            raise ValueError(f"benchmark_loader needs >= 2 batches of {batch_size} images, found {len(items)} "
                             f"images{' in ' + image_dir if image_dir else ''}.")
        stages = stage_costs(items[: min(len(items), 8)], crops)
        n_batches = n_batches or max(len(items) // batch_size - 1, 1)
        rates, firsts = {}, {}
        for cache in caches:
            for n_workers in workers:
                loader = build_ssl_loader(items, crops, batch_size=batch_size, num_workers=n_workers, cache=cache)
                rates[f"{cache}/{n_workers}"], firsts[f"{cache}/{n_workers}"] = _items_per_s(loader, n_batches)
    return {"recipe": recipe, "stages": stages, "items_per_s": rates, "first_batch_s": firsts}


def gpu_consumption(flops_per_image: float, mfu: float = 0.4, peak_flop_s: float = A100_BF16_FLOP_S,
                    per_worker_items_s: float | None = None) -> dict[str, float]:
    """On-paper images/s one GPU consumes, and the workers that feed twice that.

    Args:
        flops_per_image: FLOPs of one image's SSL step (forward + backward, all crops).
        mfu: assumed model-FLOP utilisation of the GPU (0.4: a typical well-tuned ViT training).
        peak_flop_s: the GPU's dense peak at the training dtype (default A100 bf16).
        per_worker_items_s: measured loader items/s of one worker (one CPU core).

    Returns:
        ``{"images_per_s_per_gpu", "workers_for_2x"}`` (the latter ``nan`` without ``per_worker_items_s``).
    """
    consumption = mfu * peak_flop_s / flops_per_image
    workers = 2 * consumption / per_worker_items_s if per_worker_items_s else float("nan")
    return {"images_per_s_per_gpu": consumption, "workers_for_2x": workers}

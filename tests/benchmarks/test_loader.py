"""The benchmark's SSL loader: batches do not depend on workers (persistent, prefetching), stage costs, paper maths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raddino_monai.benchmarks.loader import benchmark_loader, build_ssl_loader, gpu_consumption, stage_costs
from raddino_monai.benchmarks.loader import write_test_images
from raddino_monai.transforms import MultiCropConfig


def _batches(loader: torch.utils.data.DataLoader) -> list[dict]:
    return list(loader)


def test_batches_are_identical_with_and_without_workers(tmp_path: Path) -> None:
    items = write_test_images(tmp_path, n=4, size=96)
    crops = MultiCropConfig.tiny()
    ref = _batches(build_ssl_loader(items, crops, patch_size=16, batch_size=2, num_workers=0, cache="memory"))
    ours = _batches(build_ssl_loader(items, crops, patch_size=16, batch_size=2, num_workers=1, cache="none",
                                     persistent_workers=True, prefetch_factor=4))
    assert len(ref) == len(ours) == 2
    for a, b in zip(ref, ours):
        for key in ("global_crops", "local_crops", "masks", "masks_weight"):
            assert torch.equal(a[key], b[key]), key


def test_stage_costs_and_benchmark_keys(tmp_path: Path) -> None:
    items = write_test_images(tmp_path, n=4, size=64)
    costs = stage_costs(items, MultiCropConfig.tiny(), patch_size=16, batch_size=2)
    assert set(costs) == {"load", "resize", "multicrop", "collate"} and all(v > 0 for v in costs.values())
    result = benchmark_loader("tiny", workers=(0,), caches=("memory",), n_images=4, image_size=64, batch_size=2)
    assert set(result["items_per_s"]) == {"memory/0"} and result["items_per_s"]["memory/0"] > 0
    with pytest.raises(ValueError, match=">= 2 batches of 4 images, found 4"):
        benchmark_loader("tiny", workers=(0,), caches=("memory",), n_images=4, image_size=64, batch_size=4)


def test_gpu_consumption_on_paper() -> None:
    paper = gpu_consumption(flops_per_image=1e12, mfu=0.5, peak_flop_s=100e12, per_worker_items_s=10.0)
    assert paper["images_per_s_per_gpu"] == pytest.approx(50.0)
    assert paper["workers_for_2x"] == pytest.approx(10.0)

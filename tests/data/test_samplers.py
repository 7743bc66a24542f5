"""Tests for raddino_monai.data.samplers: the (seed, epoch)-deterministic sampler and the per-item seeded dataset."""

from __future__ import annotations

import monai
import numpy as np
import pytest
import torch

from raddino_monai.data.samplers import SEED_KEY, ResumableDistributedSampler, SeededDataset, derive_seed


def test_permutation_depends_only_on_seed_and_epoch() -> None:
    a, b = ResumableDistributedSampler(10, seed=1), ResumableDistributedSampler(10, seed=1)
    first = list(a)
    assert first == list(b) and sorted(i for _, i in first) == list(range(10)) and {e for e, _ in first} == {0}
    assert [i for _, i in a] != [i for _, i in first]  # the epoch advanced by itself
    b.set_epoch(1)
    assert list(b) == [(1, i) for i in a.epoch_indices(1)]


def test_ranks_partition_the_epoch_like_one_large_batch() -> None:
    ranks = [ResumableDistributedSampler(10, seed=0, num_replicas=3, rank=r) for r in range(3)]
    parts = [r.epoch_indices(0) for r in ranks]
    assert [len(p) for p in parts] == [4, 4, 4]  # padded by wrap-around to 12
    single = ResumableDistributedSampler(10, seed=0, num_replicas=1, rank=0).epoch_indices(0)
    interleaved = [parts[r][k] for k in range(4) for r in range(3)]
    assert interleaved[:10] == single and interleaved[10:] == single[:2]
    dropped = ResumableDistributedSampler(10, seed=0, num_replicas=3, rank=0, drop_last=True)
    assert len(dropped) == 3


def test_resume_skips_the_consumed_samples() -> None:
    sampler = ResumableDistributedSampler(8, seed=5)
    full = list(sampler)
    sampler.resume(epoch=0, skip=3)
    assert list(sampler) == full[3:]
    with pytest.raises(ValueError, match="skip must lie"):
        sampler.resume(epoch=0, skip=9)
    with pytest.raises(ValueError, match="rank must lie"):
        ResumableDistributedSampler(8, num_replicas=2, rank=2)


def test_seeded_dataset_reseeds_transforms_per_item() -> None:
    items = [{"image": torch.rand(1, 8, 8)} for _ in range(3)]
    flip = monai.transforms.RandFlipd("image", prob=0.5, spatial_axis=1)
    ds = SeededDataset(monai.data.Dataset(items, transform=flip), seed=7)
    a, b = ds[(2, 1)], ds[(2, 1)]
    assert torch.equal(a["image"], b["image"]) and a[SEED_KEY] == b[SEED_KEY] == derive_seed(7, 2, 1)
    assert ds[1][SEED_KEY] == derive_seed(7, 0, 1) and len(ds) == 3
    assert derive_seed(1, 2) != derive_seed(2, 1) and 0 <= derive_seed(-1) < 2**32
    assert isinstance(np.uint32(derive_seed(3)), np.uint32)

"""Tests for raddino_monai.data.collate (the SSL multi-crop collate with iBOT masks drawn from the items' seeds)."""

from __future__ import annotations

import monai
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from raddino_monai.data.collate import SSLCollate, collate_ssl
from raddino_monai.data.masking import MaskingConfig
from raddino_monai.data.samplers import SEED_KEY, ResumableDistributedSampler, SeededDataset
from raddino_monai.transforms.multicrop import MultiCropConfig, MultiCropd


def _coded_samples(batch: int, n_global: int = 2, n_local: int = 3, g: int = 112, loc: int = 16) -> list[dict]:
    """Samples whose pixel values encode (image i, view v): global 100 i + v, local 1000 + 100 i + v."""
    return [
        {
            "global_crops": [torch.full((3, g, g), 100.0 * i + v) for v in range(n_global)],
            "local_crops": [torch.full((3, loc, loc), 1000.0 + 100 * i + v) for v in range(n_local)],
            "label": i,
        }
        for i in range(batch)
    ]


class _CodedDataset(Dataset):
    def __init__(self, n: int) -> None:
        self.samples = _coded_samples(n, g=56)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        return {k: list(v) if isinstance(v, list) else v for k, v in self.samples[index].items()}


def test_shapes_and_view_major_order() -> None:
    batch = SSLCollate(patch_size=14, seed=0)(_coded_samples(4))
    assert batch["global_crops"].shape == (8, 3, 112, 112)
    assert batch["local_crops"].shape == (12, 3, 16, 16)
    assert batch["masks"].shape == (8, 64) and batch["masks"].dtype == torch.bool
    assert (batch["n_global_crops"], batch["n_local_crops"]) == (2, 3)
    for v in range(2):
        for i in range(4):
            assert batch["global_crops"][v * 4 + i].unique().tolist() == [100.0 * i + v]
    for v in range(3):
        for i in range(4):
            assert batch["local_crops"][v * 4 + i].unique().tolist() == [1000.0 + 100 * i + v]


def test_mask_statistics() -> None:
    collate = SSLCollate(patch_size=8, seed=1)  # 112 / 8 = 14 x 14 = 196 patches
    batch = collate(_coded_samples(16))
    masks, weight = batch["masks"], batch["masks_weight"]
    per_image = masks.sum(dim=1)
    assert 14 <= batch["n_masked_images"] <= 16 == int(32 * 0.5)  # [DV2] int(B * 0.5) images get masks
    assert batch["n_masked_images"] == int((per_image > 0).sum())
    assert per_image.max() <= 0.5 * 196
    assert weight.shape == batch["mask_indices"].shape == (int(masks.sum()),)
    assert torch.isclose(weight.sum(), torch.tensor(float(batch["n_masked_images"])))
    assert masks.flatten()[batch["mask_indices"]].all()
    torch.testing.assert_close(weight, (1.0 / per_image.float()).repeat_interleave(per_image))

    ratios = []
    for _ in range(20):
        m = collate(_coded_samples(16))["masks"].sum(dim=1).float() / 196
        ratios += m[m > 0].tolist()
    assert 0.05 <= min(ratios) and max(ratios) <= 0.5 and 0.2 < np.mean(ratios) < 0.35  # stratified U(0.1, 0.5)


def test_masking_settings_are_applied() -> None:
    none = SSLCollate(14, MaskingConfig(mask_sample_probability=0.0))(_coded_samples(4))
    assert not none["masks"].any() and none["n_masked_images"] == 0
    narrow = SSLCollate(8, MaskingConfig(mask_sample_probability=1.0, mask_ratio_min_max=(0.3, 0.3)))
    counts = narrow(_coded_samples(4))["masks"].sum(dim=1)
    assert (counts > 0).all() and counts.max() <= int(196 * 0.3)
    with pytest.raises(TypeError, match="MaskingConfig"):
        SSLCollate(14, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="patch_size"):
        SSLCollate(0)


def test_masks_follow_the_item_seeds_not_the_call_order() -> None:
    def seeded(seeds: list[int]) -> list[dict]:
        return [{**s, SEED_KEY: seed} for s, seed in zip(_coded_samples(4), seeds)]

    a, b = SSLCollate(14, seed=3), SSLCollate(14, seed=99)
    b(seeded([9, 9, 9, 9]))  # an earlier batch does not change what a later one draws
    first = a(seeded([1, 2, 3, 4]))
    assert torch.equal(first["masks"], b(seeded([1, 2, 3, 4]))["masks"])
    assert not torch.equal(first["masks"], a(seeded([1, 2, 3, 5]))["masks"])
    assert SEED_KEY not in first  # the seeds are consumed


def test_unseeded_items_use_seed_and_counter() -> None:
    a, b = SSLCollate(14, seed=3), SSLCollate(14, seed=3)
    first, second = a(_coded_samples(4))["masks"], a(_coded_samples(4))["masks"]
    assert torch.equal(first, b(_coded_samples(4))["masks"]) and not torch.equal(first, second)
    assert not torch.equal(SSLCollate(14, seed=4)(_coded_samples(4))["masks"], first)


def test_masks_do_not_depend_on_workers() -> None:
    def run(num_workers: int) -> list[torch.Tensor]:
        ds = SeededDataset(_CodedDataset(16), seed=0)
        sampler = ResumableDistributedSampler(ds, seed=0, num_replicas=1, rank=0)
        loader = DataLoader(ds, batch_size=8, sampler=sampler, num_workers=num_workers, collate_fn=SSLCollate(14))
        return [batch["masks"] for batch in loader]

    main, workers = run(0), run(2)
    assert len(main) == 2 and not torch.equal(main[0], main[1])
    for a, b in zip(main, workers):
        assert torch.equal(a, b)


def test_with_multicropd_samples() -> None:
    transform = MultiCropd("image", MultiCropConfig.tiny(), seed=0)
    samples = [transform({"image": torch.rand(1, 120, 100)}) for _ in range(3)]
    batch = collate_ssl(samples, patch_size=14, rng=np.random.default_rng(0))
    assert batch["global_crops"].shape == (6, 3, 112, 112) and batch["local_crops"].shape == (12, 3, 48, 48)
    assert batch["masks"].shape == (6, 64)
    data = monai.data.Dataset([{"image": torch.rand(1, 120, 100)} for _ in range(2)], transform=transform)
    assert SSLCollate(14)([data[0], data[1]])["global_crops"].shape == (4, 3, 112, 112)


def test_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not a multiple of patch_size=15"):
        collate_ssl(_coded_samples(2), patch_size=15, rng=rng)
    with pytest.raises(ValueError, match="no 'global_crops'"):
        collate_ssl([{"image": torch.zeros(1, 4, 4)}], patch_size=14, rng=rng)
    uneven = _coded_samples(2)
    uneven[1]["local_crops"] = uneven[1]["local_crops"][:2]
    with pytest.raises(ValueError, match=r"different numbers of 'local_crops' views: \[3, 2\]"):
        collate_ssl(uneven, patch_size=14, rng=rng)
    with pytest.raises(ValueError, match="empty batch"):
        collate_ssl([], patch_size=14, rng=rng)


def test_deprecated_seeded_collate_is_the_same_collate() -> None:
    from raddino_monai.engines import SeededSSLCollate

    with pytest.warns(DeprecationWarning, match="raddino_monai.data.collate.SSLCollate"):
        old = SeededSSLCollate(patch_size=14, mask_probability=0.0)
    assert isinstance(old, SSLCollate) and old.masking == MaskingConfig(mask_sample_probability=0.0)
    with pytest.warns(DeprecationWarning, match="raddino_monai.data.samplers.SeededDataset"):
        from raddino_monai.engines import SeededDataset as old_dataset
    assert old_dataset is SeededDataset

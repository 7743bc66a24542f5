"""Tests for raddino_monai.data.collate (SSL multi-crop collate with iBOT masks)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import raddino_monai.data.collate as collate_module
from raddino_monai.data.collate import SSLCollate, collate_ssl
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
        return self.samples[index]


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


def test_seeded_and_state_dict_resume() -> None:
    samples = _coded_samples(4)
    a, b = SSLCollate(14, seed=3), SSLCollate(14, seed=3)
    assert torch.equal(a(samples)["masks"], b(samples)["masks"])
    assert not torch.equal(SSLCollate(14, seed=4)(samples)["masks"], a(samples)["masks"])

    state = a.state_dict()
    expected = [a(samples)["masks"] for _ in range(3)]
    resumed = SSLCollate(14, seed=99)
    resumed.load_state_dict(state)
    assert resumed.seed == 3
    for mask in expected:
        assert torch.equal(resumed(samples)["masks"], mask)
    with pytest.raises(KeyError, match="bit_generator"):
        resumed.load_state_dict({"seed": 1})
    assert isinstance(SSLCollate(14).state_dict()["seed"], int)  # seed=None records its entropy


def test_worker_reseeding(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = _coded_samples(8)
    masks = {}
    for worker_seed in (10, 11, 10):
        collate = SSLCollate(14, seed=0)
        monkeypatch.setattr(collate_module, "get_worker_info", lambda s=worker_seed: SimpleNamespace(seed=s, id=0))
        masks.setdefault(worker_seed, []).append(collate(samples)["masks"])
    assert torch.equal(masks[10][0], masks[10][1])
    assert not torch.equal(masks[10][0], masks[11][0])


def test_dataloader_workers_differ_and_reproduce() -> None:
    def run() -> list[torch.Tensor]:
        torch.manual_seed(0)
        loader = DataLoader(_CodedDataset(16), batch_size=8, num_workers=2, collate_fn=SSLCollate(14, seed=0))
        return [batch["masks"] for batch in loader]

    first, second = run(), run()
    assert len(first) == 2 and not torch.equal(first[0], first[1])  # the two workers draw different masks
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_with_multicropd_samples() -> None:
    transform = MultiCropd("image", MultiCropConfig.tiny(), seed=0)
    samples = [transform({"image": torch.rand(1, 120, 100)}) for _ in range(3)]
    batch = collate_ssl(samples, patch_size=14, rng=np.random.default_rng(0))
    assert batch["global_crops"].shape == (6, 3, 112, 112) and batch["local_crops"].shape == (12, 3, 48, 48)
    assert batch["masks"].shape == (6, 64)


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

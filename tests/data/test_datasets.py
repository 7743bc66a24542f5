"""Tests of raddino_monai.data.datasets: cache modes and skipping of unreadable files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, DataLoader, Dataset, MetaTensor, PersistentDataset
from monai.transforms import Compose, EnsureTyped, Lambda, Lambdad, RandFlipd, SelectItemsd

from raddino_monai.data.datasets import CACHE_MODES, BadFile, build_dataset

EXPECTED_CLASS = {"memory": CacheDataset, "disk": PersistentDataset, "none": Dataset}
BAD = [2, 5]  # indices of the unreadable files in the image_items fixture
Pipeline = Callable[[list[str]], Compose]
Items = list[dict[str, Any]]


def _chain_text(err: BaseException) -> str:
    """Messages of ``err`` and of its causes (MONAI wraps transform errors in ``RuntimeError``)."""
    texts = []
    current: BaseException | None = err
    while current is not None:
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return " | ".join(texts)


@pytest.fixture
def pipeline(png_loader: type) -> Pipeline:
    """``pipeline(calls)``: PNG loader (recording each loaded path in ``calls``) + a random flip."""
    return lambda calls: Compose([png_loader("image", calls=calls), RandFlipd("image", prob=0.5, spatial_axis=1)])


@pytest.mark.parametrize("cache", list(CACHE_MODES))
def test_bad_files_are_skipped_logged_and_counted(
    cache: str, image_items: Items, tmp_path: Path, caplog: pytest.LogCaptureFixture, pipeline: Pipeline
) -> None:
    caplog.set_level(logging.WARNING, logger="raddino_monai.data.datasets")
    ds = build_dataset(image_items, pipeline([]), cache=cache, cache_dir=tmp_path / "cache", num_workers=2)
    assert isinstance(ds, EXPECTED_CLASS[cache])
    assert len(ds) == len(image_items) - len(BAD) and ds.num_bad_files == len(BAD)
    assert [b.index for b in ds.bad_files] == BAD
    assert [b.path for b in ds.bad_files] == [image_items[i]["image"] for i in BAD]
    assert all("cannot decode as PNG" in b.reason for b in ds.bad_files)
    good = [item for i, item in enumerate(image_items) if i not in BAD]
    for index, item in enumerate(good):
        out = ds[index]
        assert out["label"] == item["label"] and tuple(out["image"].shape) == (1, 20, 16)
        assert torch.allclose(out["image"], torch.full((1, 20, 16), 10 * image_items.index(item) / 255.0))
    text = caplog.text
    assert all(image_items[i]["image"] in text for i in BAD) and "skipped 2 of 8" in text
    assert "PATIENT" not in text  # never patient identifiers


@pytest.mark.parametrize("cache", list(CACHE_MODES))
def test_without_skipping_a_bad_file_raises(cache: str, image_items: Items, tmp_path: Path, pipeline: Pipeline) -> None:
    with pytest.raises(RuntimeError) as info:
        ds = build_dataset(image_items, pipeline([]), cache=cache, cache_dir=tmp_path / "c", skip_bad_files=False)
        [ds[i] for i in range(len(ds))]
    assert "img2.png: cannot decode as PNG" in _chain_text(info.value)


def test_memory_cache_runs_the_deterministic_prefix_once(image_items: Items, pipeline: Pipeline) -> None:
    calls: list[str] = []
    good = [item for i, item in enumerate(image_items) if i not in BAD]
    ds = build_dataset(good, pipeline(calls), cache="memory")
    assert len(calls) == len(good) and ds.num_bad_files == 0
    for _ in range(3):
        for batch in DataLoader(ds, batch_size=3, num_workers=0):
            assert tuple(batch["image"].shape) == (3, 1, 20, 16)
    assert len(calls) == len(good)  # later epochs reuse the cache


def test_memory_cache_rate_checks_uncached_items_too(image_items: Items, pipeline: Pipeline) -> None:
    calls: list[str] = []
    ds = build_dataset(image_items, pipeline(calls), cache="memory", cache_rate=0.5)
    assert [b.index for b in ds.bad_files] == BAD  # index 2 found while caching, 5 by the check of the rest
    assert ds.cache_num == 3 and len(ds) == 6
    assert [ds[i]["label"] for i in range(len(ds))] == [image_items[i]["label"] for i in (0, 1, 3, 4, 6, 7)]


def test_disk_cache_is_reused_with_meta(image_items: Items, tmp_path: Path, pipeline: Pipeline) -> None:
    good = [item for i, item in enumerate(image_items) if i not in BAD]
    first: list[str] = []
    ds = build_dataset(good, pipeline(first), cache="disk", cache_dir=tmp_path / "cache")
    assert len(first) == len(good) and len(list((tmp_path / "cache").glob("*.pt"))) == len(good)
    assert ds.weights_only is True
    second: list[str] = []
    ds2 = build_dataset(good, pipeline(second), cache="disk", cache_dir=tmp_path / "cache")
    out = ds2[0]
    assert second == []  # every item came from the disk cache (torch.load(weights_only=True))
    assert tuple(out["image"].shape) == (1, 20, 16) and out["label"] == good[0]["label"]


def test_disk_cache_keeps_loader_meta_on_every_monai_version(
    image_items: Items, tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    """LoadCXRd meta (NumPy spatial_shape, MONAI enums in applied_operations) survives a weights-only disk cache."""
    from raddino_monai.transforms import LoadCXRd, raddino_preprocessing

    good = [item for i, item in enumerate(image_items) if i not in BAD][:2]
    calls: list[str] = []

    def counted(d: dict[str, Any]) -> dict[str, Any]:
        calls.append(d["image"])
        return d

    # the "torch" backend records MONAI applied_operations (enums), which the weights-only cache must round-trip
    preprocess = raddino_preprocessing("image", size=14, resize_backend="torch")
    transform = Compose([Lambda(counted), LoadCXRd("image"), preprocess])
    miss = build_dataset(good, transform, cache="disk", cache_dir=tmp_path / "cache")[1]
    hit = build_dataset(good, transform, cache="disk", cache_dir=tmp_path / "cache")[1]
    assert len(calls) == 2  # the second dataset loaded everything from the cache ...
    assert not [w for w in recwarn if "Corrupt cache file" in str(w.message)]  # ... without a failed torch.load
    for out in (miss, hit):
        image = out["image"]
        assert isinstance(image, MetaTensor) and tuple(image.shape) == (3, 14, 14)
        assert image.meta["filename_or_obj"] == good[1]["image"] and image.meta["bits_stored"] == 8
        assert isinstance(image.meta["spatial_shape"], np.ndarray) and tuple(image.meta["spatial_shape"]) == (20, 16)
        assert image.applied_operations[-1]["class"] == "CenterSpatialCrop"
        assert set(out) == set(good[1])  # no helper keys leak into the item
    assert torch.equal(miss["image"].as_tensor(), hit["image"].as_tensor())
    assert torch.equal(miss["image"].affine, hit["image"].affine)


def test_other_errors_propagate(image_items: Items, tmp_path: Path, png_loader: type) -> None:
    def boom(x: Any) -> Any:
        raise KeyError("bug in a transform")

    transform = Compose([png_loader("image"), Lambdad("image", boom)])
    for cache in CACHE_MODES:
        with pytest.raises(RuntimeError) as info:
            build_dataset(image_items[:2], transform, cache=cache, cache_dir=tmp_path / "cache")
        assert "bug in a transform" in _chain_text(info.value)


def test_all_bad_and_argument_errors(image_items: Items, tmp_path: Path, png_loader: type) -> None:
    bad_only = [image_items[i] for i in BAD]
    with pytest.raises(ValueError, match="all 2 items failed to load, e.g. .*img2.png"):
        build_dataset(bad_only, [png_loader("image")], cache="none")
    with pytest.raises(ValueError, match=r"cache must be one of \['memory', 'disk', 'none'\], got 'ram'"):
        build_dataset(image_items, [png_loader("image")], cache="ram")
    with pytest.raises(ValueError, match="cache='disk' needs cache_dir"):
        build_dataset(image_items, [png_loader("image")], cache="disk")
    with pytest.raises(ValueError, match=r"cache_rate must be in \[0, 1\]"):
        build_dataset(image_items, [png_loader("image")], cache_rate=1.5)


def test_missing_file_is_a_bad_file(image_items: Items, tmp_path: Path) -> None:
    from raddino_monai.transforms import LoadCXRd

    items = [image_items[0], {"image": str(tmp_path / "gone.png")}]
    ds = build_dataset(items, [LoadCXRd("image")], cache="none")
    assert len(ds) == 1 and ds.bad_files[0].index == 1 and ds.bad_files[0].path == str(tmp_path / "gone.png")
    assert isinstance(ds.bad_files[0], BadFile)


def test_sample_data_with_package_loader_and_preprocessing(tmp_path: Path) -> None:
    from raddino_monai.data.sample_data import load_sample_datalist
    from raddino_monai.transforms import LoadCXRd, raddino_preprocessing

    items = load_sample_datalist("validation")[:3]
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    items.append(dict(items[0], image=str(tmp_path / "broken.png")))
    # unknown ages are None in the datalist, which default collate rejects: keep the image tensor and the label
    transform = Compose([
        LoadCXRd("image"), raddino_preprocessing("image", size=28),
        EnsureTyped("image", track_meta=False), SelectItemsd(["image", "label"]),
    ])  # fmt: skip
    ds = build_dataset(items, transform, cache="memory")
    assert len(ds) == 3 and [b.index for b in ds.bad_files] == [3] and "broken.png" in ds.bad_files[0].path
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert tuple(batch["image"].shape) == (3, 3, 28, 28) and batch["image"].dtype == torch.float32
    assert batch["label"] == [item["label"] for item in items[:3]]

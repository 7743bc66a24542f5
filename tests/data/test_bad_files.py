"""Tests of raddino_monai.data.bad_files: markers, substitution, the log's stop rule and its files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from monai.data import DataLoader, Dataset, list_data_collate
from PIL import Image

from raddino_monai.data.bad_files import (
    BAD_FILES_KEY,
    BadFile,
    BadFileLog,
    LoaderWithoutBadFiles,
    SkipBadCollate,
    SkipBadFiles,
    TooManyBadFilesError,
    batches_without_bad_files,
)
from raddino_monai.transforms import LoadCXRd
from raddino_monai.transforms.errors import CXRLoadError


def _images(folder: Path, n: int, bad: set[int]) -> list[dict[str, str]]:
    """``n`` 16x16 PNGs whose pixels equal their index; those in ``bad`` are truncated."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(np.full((16, 16), i, dtype=np.uint8)).save(path)
        if i in bad:
            path.write_bytes(path.read_bytes()[:40])
        items.append({"image": str(path)})
    return items


def _value(item: dict) -> int:
    return int(round(float(item["image"].max()) * 255))


def test_drop_mode_returns_markers_and_the_loader_skips_them(tmp_path: Path) -> None:
    items = _images(tmp_path, 6, bad={1, 4})
    ds = SkipBadFiles(Dataset(items, LoadCXRd("image")))
    marker = ds[1]
    assert isinstance(marker, BadFile) and marker.index == 1 and marker.path == items[1]["image"]
    assert "Pillow cannot identify" in marker.reason
    log = BadFileLog(total=6, max_bad_fraction=0.5, path=tmp_path / "out" / "bad_files.csv")
    loader = DataLoader(ds, batch_size=2, collate_fn=SkipBadCollate(list_data_collate))
    seen = [int(round(float(v) * 255)) for b in batches_without_bad_files(loader, log) for v in b["image"].amax((1, 2, 3))]
    assert seen == [0, 2, 3, 5]
    assert log.count == 2 and log.paths == {items[1]["image"], items[4]["image"]}
    rows = list(csv.DictReader(open(tmp_path / "out" / "bad_files.csv")))
    assert [int(r["index"]) for r in rows] == [1, 4] and all(r["reason"] for r in rows)
    summary = json.loads((tmp_path / "out" / "bad_files.json").read_text())
    assert (summary["total"], summary["bad"], summary["max_bad_fraction"]) == (6, 2, 0.5)
    assert BadFileLog.read(tmp_path / "out" / "bad_files.csv") == log.files


def test_all_bad_batch_is_not_yielded_and_the_loader_is_reiterable(tmp_path: Path) -> None:
    items = _images(tmp_path, 3, bad={0})
    log = BadFileLog(total=3, max_bad_fraction=0.5)
    loader = DataLoader(SkipBadFiles(Dataset(items, LoadCXRd("image"))), batch_size=1, collate_fn=SkipBadCollate())
    batches = LoaderWithoutBadFiles(loader, log)
    assert len(list(batches)) == 2 and len(list(batches)) == 2  # one pass per iteration
    assert log.count == 1  # the same file met twice is counted once


def test_substitute_mode_replaces_with_the_next_good_item_deterministically(tmp_path: Path) -> None:
    items = _images(tmp_path, 5, bad={1, 2, 4})
    ds = SkipBadFiles(Dataset(items, LoadCXRd("image")), substitute=True)
    assert _value(ds[0]) == 0 and BAD_FILES_KEY not in ds[0]
    sub = ds[1]
    assert _value(sub) == 3 and [b.index for b in sub[BAD_FILES_KEY]] == [1, 2]
    wrapped = ds[4]  # cyclic: 4 is bad -> 0
    assert _value(wrapped) == 0 and [b.index for b in wrapped[BAD_FILES_KEY]] == [4]
    again = SkipBadFiles(Dataset(items, LoadCXRd("image")), substitute=True)
    assert [_value(again[i]) for i in range(5)] == [_value(ds[i]) for i in range(5)] == [0, 3, 3, 3, 0]


def test_substitute_mode_with_no_readable_item_names_a_file(tmp_path: Path) -> None:
    items = _images(tmp_path, 2, bad={0, 1})
    with pytest.raises(TooManyBadFilesError, match="img_000.png"):
        SkipBadFiles(Dataset(items, LoadCXRd("image")), substitute=True)[0]


def test_other_errors_propagate(tmp_path: Path) -> None:
    def broken(item: dict) -> dict:
        raise KeyError("a bug, not a bad file")

    with pytest.raises(RuntimeError) as info:  # MONAI wraps transform errors
        SkipBadFiles(Dataset([{"image": "x"}], broken))[0]
    assert isinstance(info.value.__cause__, KeyError)


@pytest.mark.parametrize(("n_bad", "max_fraction", "stops"), [(1, 0.01, False), (10, 0.01, True), (50, 0.5, False),
                                                              (51, 0.5, True), (1, 0.0, True)])
def test_stop_rule(n_bad: int, max_fraction: float, stops: bool, tmp_path: Path) -> None:
    log = BadFileLog(total=100, max_bad_fraction=max_fraction, path=tmp_path / "bad_files.csv")
    bad = [BadFile(i, f"/data/{i}.png", "truncated") for i in range(n_bad)]
    if not stops:
        log.record(bad)
        assert log.count == n_bad
        return
    with pytest.raises(TooManyBadFilesError) as info:
        log.record(bad)
    message = str(info.value)
    assert message.startswith("/data/0.png: truncated") and f"{n_bad} of 100" in message
    assert str(tmp_path / "bad_files.csv") in message and isinstance(info.value, CXRLoadError)
    assert len(BadFileLog.read(tmp_path / "bad_files.csv")) == n_bad  # written before stopping


def test_log_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="max_bad_fraction"):
        BadFileLog(total=3, max_bad_fraction=1.5)
    with pytest.raises(ValueError, match="needs a path"):
        BadFileLog(total=3).write()

"""Tests of raddino_monai.engines.handlers.run_signature: datalist fingerprints and the reported differences."""

from __future__ import annotations

from monai.data import Dataset

from raddino_monai.data.bad_files import SkipBadFiles
from raddino_monai.data.samplers import SeededDataset
from raddino_monai.engines.handlers.run_signature import datalist_fingerprint, signature_differences


def test_fingerprint_sees_the_items_in_order_through_the_wrappers() -> None:
    def wrapped(paths: list[str]) -> SeededDataset:
        return SeededDataset(SkipBadFiles(Dataset([{"image": p} for p in paths]), substitute=True))

    a = datalist_fingerprint(wrapped(["/d/1.png", "/d/2.png"]))
    assert a is not None and a.startswith("2 items")
    assert a == datalist_fingerprint(wrapped(["/d/1.png", "/d/2.png"]))
    assert a != datalist_fingerprint(wrapped(["/d/2.png", "/d/1.png"]))  # order matters for exact resume
    assert a != datalist_fingerprint(wrapped(["/d/1.png", "/d/3.png"]))
    assert datalist_fingerprint(object()) is None


def test_differences_name_each_changed_field_and_ignore_unknown_ones() -> None:
    saved = {"epoch_length": 10, "world_size": 8, "global_batch": 320, "datalist": "a", "recipe": None}
    now = {"epoch_length": 10, "world_size": 4, "global_batch": 160, "datalist": "b", "recipe": "r"}
    assert signature_differences(saved, now) == [
        "world_size: checkpoint 8, this run 4", "global_batch: checkpoint 320, this run 160",
        "datalist: checkpoint a, this run b"]
    assert signature_differences(saved, saved) == []

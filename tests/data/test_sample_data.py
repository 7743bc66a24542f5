"""Tests of the embedded sample data and of raddino_monai.data.sample_data."""

from __future__ import annotations

import csv
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raddino_monai.data import sample
from raddino_monai.data.datalist import DatalistError
from raddino_monai.data.sample_data import (
    load_sample_datalist,
    sample_data_dir,
    sample_datalist_path,
    sample_dicom_paths,
)
from raddino_monai.data.splits import patient_split

SPLITS = ("training", "validation", "test")
METADATA_COLUMNS = [
    "image", "mask", "patient_id", "sex", "age", "view", "view_group", "finding", "license", "doi", "url",
    "orig_filename",
]  # fmt: skip


@pytest.fixture(scope="module")
def metadata() -> list[dict[str, str]]:
    with (sample_data_dir() / "metadata.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_paths_are_inside_the_package() -> None:
    root = sample_data_dir()
    assert root.is_absolute() and root.name == "sample_data" and root.parent.name == "raddino_monai"
    assert sample_datalist_path() == root / "datalist.json"
    assert "shared" not in inspect.getsource(sample)


def test_metadata_columns_licences_and_values(metadata: list[dict[str, str]]) -> None:
    assert list(metadata[0]) == METADATA_COLUMNS
    assert len(metadata) == 100
    assert {row["license"] for row in metadata} <= {"CC BY", "CC BY 3.0", "CC BY 4.0"}
    assert {row["sex"] for row in metadata} <= {"M", "F", ""}
    assert {row["view_group"] for row in metadata} <= {"PA", "AP", "LATERAL"}
    assert all(row["doi"] or row["url"] for row in metadata)
    assert len({row["patient_id"] for row in metadata}) == 53
    assert sum(bool(row["mask"]) for row in metadata) == 90


def test_files_are_small_grey_pngs_with_matching_binary_masks(metadata: list[dict[str, str]]) -> None:
    root = sample_data_dir()
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "dicom" not in p.parts)
    assert total <= 5 * 1024 * 1024
    assert len(list((root / "images").glob("*.png"))) == len(metadata)
    for row in metadata:
        with Image.open(root / row["image"]) as image:
            assert image.format == "PNG" and image.mode == "L" and max(image.size) <= 256
            size = image.size
        if row["mask"]:
            with Image.open(root / row["mask"]) as mask:
                assert mask.mode == "L" and mask.size == size
                values = set(np.unique(np.asarray(mask)).tolist())
            assert values <= {0, 255} and 255 in values


def test_attribution_credits_every_image(metadata: list[dict[str, str]]) -> None:
    text = (sample_data_dir() / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "ieee8023/covid-chestxray-dataset" in text and "V7 Labs" in text and "CC BY 4.0" in text
    for row in metadata:
        assert f"`{row['image']}` | {row['license']} |" in text


def test_datalist_is_a_patient_split_of_the_metadata(metadata: list[dict[str, str]]) -> None:
    raw = json.loads(sample_datalist_path().read_text(encoding="utf-8"))
    patients = {name: {item["patient_id"] for item in raw[name]} for name in SPLITS}
    for a, b in (("training", "validation"), ("training", "test"), ("validation", "test")):
        assert not patients[a] & patients[b]
    listed = sorted(item["image"] for name in SPLITS for item in raw[name])
    assert listed == sorted(row["image"] for row in metadata)
    # the stored split is what patient_split(seed 0, stratified by finding) gives
    again = patient_split([dict(r) for r in metadata], seed=0, stratify_key="finding")
    assert {name: sorted(i["image"] for i in again[name]) for name in SPLITS} == {
        name: sorted(i["image"] for i in raw[name]) for name in SPLITS
    }


@pytest.mark.parametrize("split", SPLITS)
def test_load_sample_datalist_resolves_paths(split: str) -> None:
    items = load_sample_datalist(split)
    assert items and all(item["split"] == split for item in items)
    for item in items:
        assert Path(item["image"]).is_absolute() and Path(item["image"]).is_file()
        assert "mask" not in item or Path(item["mask"]).is_file()
        assert isinstance(item["label"], str) and isinstance(item["patient_id"], str)
        assert item["age"] is None or isinstance(item["age"], float)


def test_load_sample_datalist_all_and_unknown_split() -> None:
    items = load_sample_datalist()
    assert len(items) == 100 and {item["split"] for item in items} == set(SPLITS)
    assert len(load_sample_datalist(["validation", "test"])) == sum(len(load_sample_datalist(s)) for s in SPLITS[1:])
    with pytest.raises(DatalistError, match="training"):
        load_sample_datalist("train")


def test_sample_dicoms_with_attribution_and_no_identifiers_in_meta() -> None:
    from raddino_monai.transforms import LoadCXR

    paths = sample_dicom_paths()
    assert sorted(paths) == ["MONOCHROME1", "MONOCHROME2"]
    assert all(p.parent == sample_data_dir() / "dicom" for p in paths.values())
    text = (sample_data_dir() / "dicom" / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert all(f"`{p.name}`" in text for p in paths.values())
    assert "mlmed/torchxrayvision" in text and "Apache License 2.0" in text
    patient_id = "16d7f894-55d7-4d95-8957-d18987f0e981"  # the files' (random UUID) PatientName / PatientID
    for photometric, path in paths.items():
        image = LoadCXR()(path)
        assert image.meta["photometric_interpretation"] == photometric
        assert patient_id not in repr(image.meta)

"""Tests for raddino_monai.data.synthetic: deterministic images, exact masks, dataset and DICOM writers."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from PIL import Image

from raddino_monai.data.synthetic import (
    FAKE_IDENTIFIERS,
    MASK_LABELS,
    make_synthetic_cxr,
    write_synthetic_dataset,
    write_synthetic_dicom,
)


def test_deterministic_and_seed_dependent():
    a, ma = make_synthetic_cxr((64, 48), seed=1)
    b, mb = make_synthetic_cxr((64, 48), seed=1)
    c, _ = make_synthetic_cxr((64, 48), seed=2)
    np.testing.assert_array_equal(a, b)
    assert all(np.array_equal(ma[k], mb[k]) for k in ma)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == (64, 48) and 0.0 <= a.min() and a.max() <= 1.0


def test_masks_are_exact_and_anatomical():
    image, masks = make_synthetic_cxr((128, 128), seed=0, noise=0.0, rib_contrast=0.0)
    assert set(masks) == {"left_lung", "right_lung", "heart"} and all(m.dtype == bool for m in masks.values())
    assert not (masks["heart"] & (masks["left_lung"] | masks["right_lung"])).any()  # lungs exclude the heart
    assert not (masks["left_lung"] & masks["right_lung"]).any()
    cols = np.arange(128)
    # displayed PA orientation: the patient's left lung is on the image right
    assert cols[masks["left_lung"].any(0)].mean() > 64 > cols[masks["right_lung"].any(0)].mean()
    lungs = masks["left_lung"] | masks["right_lung"]
    assert image[lungs].mean() < image[masks["heart"]].mean()  # lungs dark, heart bright
    np.testing.assert_allclose(image[lungs], image[lungs][0])  # without noise/ribs a lung is one exact value


def test_attributes_change_the_picture():
    base, base_masks = make_synthetic_cxr((96, 96), seed=0, noise=0.0)
    big_heart = make_synthetic_cxr((96, 96), seed=0, noise=0.0, heart_size=1.4)[1]["heart"]
    assert big_heart.sum() > base_masks["heart"].sum()
    opaque = make_synthetic_cxr((96, 96), seed=0, noise=0.0, lung_opacity=1.0)[0]
    assert opaque[base_masks["right_lung"]].mean() > base[base_masks["right_lung"]].mean()
    assert opaque[base_masks["left_lung"]].mean() == pytest.approx(base[base_masks["left_lung"]].mean())
    female = make_synthetic_cxr((96, 96), seed=0, noise=0.0, sex="F")[1]
    lung_area = {k: (m["left_lung"] | m["right_lung"]).sum() for k, m in {"F": female, "M": base_masks}.items()}
    assert lung_area["F"] < lung_area["M"]
    with pytest.raises(ValueError, match="sex must be one of"):
        make_synthetic_cxr(sex="X")


def test_write_dataset(tmp_path):
    path = write_synthetic_dataset(tmp_path, n=5, size=(40, 32), seed=3)
    datalist = json.loads(path.read_text())
    items = [item for section in datalist.values() for item in section]
    assert sorted(datalist) == ["test", "training", "validation"] and len(items) == 5
    assert len({item["patient_id"] for item in items}) == 5
    for item in items:
        image = np.asarray(Image.open(tmp_path / item["image"]))
        mask = np.asarray(Image.open(tmp_path / item["mask"]))
        assert image.shape == mask.shape == (40, 32) and image.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, *MASK_LABELS.values()}
        assert item["label"] in (0, 1) and item["sex"] in ("M", "F") and item["view"] == "PA"


def test_write_dicom_header_and_pixels(tmp_path):
    image = make_synthetic_cxr((32, 40), seed=0)[0]
    path = write_synthetic_dicom(
        tmp_path / "a.dcm", image=image, bits_stored=15, photometric="MONOCHROME1", rescale=(1.0, 0.0),
        window=(16000.0, 32000.0), pixel_spacing=(0.14, 0.15),
    )
    ds = pydicom.dcmread(path)
    assert (ds.BitsStored, ds.BitsAllocated, ds.PhotometricInterpretation) == (15, 16, "MONOCHROME1")
    assert str(ds.PatientName) == FAKE_IDENTIFIERS["PatientName"] and float(ds.WindowCenter) == 16000.0
    np.testing.assert_array_equal(ds.pixel_array, np.round((1.0 - image) * 32767).astype(np.uint16))
    header_only = pydicom.dcmread(write_synthetic_dicom(tmp_path / "b.dcm", with_pixel_data=False, identifiers=False))
    assert "PixelData" not in header_only and "PatientName" not in header_only

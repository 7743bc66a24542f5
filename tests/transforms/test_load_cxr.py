"""Tests for raddino_monai.transforms.io: LoadCXR / LoadCXRd on PNG, JPEG, NIfTI and suffix-less DICOM."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from raddino_monai.data.synthetic import write_synthetic_dicom
from raddino_monai.transforms import CXRLoadError, LoadCXR, LoadCXRd

CONTRACT_META = (
    "filename_or_obj",
    "spatial_shape",
    "pixel_spacing",
    "view_position",
    "modality",
    "photometric_interpretation",
    "bits_stored",
    "original_channel_dim",
)


def test_png_8bit_contract(png_writer, synthetic_image):
    raw = np.round(synthetic_image * 255).astype(np.uint8)
    raw[0, 0], raw[0, -1] = 255, 0  # orientation markers: top-left white, top-right black
    path = png_writer(raw)
    img = LoadCXR()(path)
    assert isinstance(img, MetaTensor) and img.dtype == torch.float32
    assert tuple(img.shape) == (1, 72, 56)
    np.testing.assert_array_equal(img[0].numpy(), raw / np.float32(255))
    assert img[0, 0, 0] == 1.0 and img[0, 0, -1] == 0.0
    assert all(key in img.meta for key in CONTRACT_META)
    assert img.meta["filename_or_obj"] == str(path)
    assert tuple(img.meta["spatial_shape"]) == (72, 56)
    assert np.isnan(img.meta["pixel_spacing"]).all() and img.meta["view_position"] == "" and img.meta["modality"] == ""
    assert img.meta["bits_stored"] == 8
    assert img.meta["original_channel_dim"] == 0


def test_png_16bit_divides_by_65535(png_writer, synthetic_image):
    raw = np.round(synthetic_image * 65535).astype(np.uint16)
    img = LoadCXR()(png_writer(raw, "16bit.png"))
    np.testing.assert_allclose(img[0].numpy(), raw / 65535.0, atol=1e-6)


def test_rgb_grey_equals_grey(png_writer, synthetic_image):
    grey = np.round(synthetic_image * 255).astype(np.uint8)
    a = LoadCXR()(png_writer(grey, "grey.png"))
    b = LoadCXR()(png_writer(np.stack([grey] * 3, -1), "rgb.png"))
    torch.testing.assert_close(a.as_tensor(), b.as_tensor(), atol=1e-6, rtol=0)


def test_jpeg_loads_close_to_source(tmp_path, synthetic_image):
    grey = np.round(synthetic_image * 255).astype(np.uint8)
    path = tmp_path / "x.jpg"
    Image.fromarray(grey).save(path, quality=95)
    img = LoadCXR()(path)
    assert tuple(img.shape) == (1, 72, 56)
    assert float(np.abs(img[0].numpy() - grey / 255.0).mean()) < 0.02


def test_nifti_2d_spacing(tmp_path, synthetic_image, nifti_writer):
    img = LoadCXR()(nifti_writer(tmp_path / "v.nii.gz", synthetic_image))
    np.testing.assert_allclose(img[0].numpy(), synthetic_image, atol=1e-6)  # displayed (rows, cols) orientation
    assert img.meta["pixel_spacing"] == pytest.approx((0.5, 0.25))


@pytest.mark.parametrize("layout", ["xy1", "1xy"])
def test_nifti_3d_with_singleton_axis(tmp_path, synthetic_image, layout):
    import nibabel as nib

    data = {"xy1": synthetic_image.T[..., None], "1xy": synthetic_image.T[None]}[layout]
    path = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), np.eye(4)), str(path))
    np.testing.assert_allclose(LoadCXR()(path)[0].numpy(), synthetic_image, atol=1e-6)


def test_nifti_uint16_bits_mode(tmp_path, synthetic_image, nifti_writer):
    raw = np.round(synthetic_image * 65535).astype(np.uint16)
    img = LoadCXR()(nifti_writer(tmp_path / "u16.nii", raw))
    np.testing.assert_allclose(img[0].numpy(), raw / 65535.0, atol=1e-6)


def test_minmax_mode(png_writer, synthetic_image):
    raw = np.round(synthetic_image * 200 + 20).astype(np.uint8)
    img = LoadCXR(intensity="minmax")(png_writer(raw))
    assert float(img.min()) == 0.0 and float(img.max()) == 1.0


def test_dicom_without_suffix_is_sniffed(tmp_path, synthetic_image):
    src = write_synthetic_dicom(tmp_path / "a.dcm", image=synthetic_image, bits_stored=12)
    plain = tmp_path / "IM000001"
    shutil.copy(src, plain)
    img = LoadCXR()(plain)
    np.testing.assert_allclose(img[0].numpy(), synthetic_image, atol=0.5 / 4095 + 1e-6)
    assert img.meta["modality"] == "CR" and img.meta["bits_stored"] == 12


def test_dict_version_and_aliases(png_writer, synthetic_image):
    path = png_writer(np.round(synthetic_image * 255).astype(np.uint8))
    out = LoadCXRd(["image", "other"], allow_missing_keys=True)({"image": str(path), "label": 3})
    assert tuple(out["image"].shape) == (1, 72, 56) and out["label"] == 3 and "other" not in out
    with pytest.raises(KeyError):
        LoadCXRd("image")({"label": 3})


def test_invalid_arguments_list_valid_values():
    with pytest.raises(ValueError, match="bits.*minmax.*window"):
        LoadCXR(intensity="percentile")
    with pytest.raises(ValueError, match="min_size"):
        LoadCXR(min_size=0)


def test_window_mode_on_png_is_a_load_error(png_writer, synthetic_image):
    path = png_writer(np.round(synthetic_image * 255).astype(np.uint8))
    with pytest.raises(CXRLoadError, match="window"):
        LoadCXR(intensity="window")(path)


def test_unsupported_suffix_and_missing_file(tmp_path: Path):
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(CXRLoadError, match="unsupported file type.*.png"):
        LoadCXR()(other)
    with pytest.raises(CXRLoadError, match="file not found") as err:
        LoadCXR()(tmp_path / "missing.png")
    assert str(tmp_path / "missing.png") in str(err.value)


def test_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(CXRLoadError("/x.png", "empty file (0 bytes)")))
    assert err.path == "/x.png" and str(err) == "/x.png: empty file (0 bytes)"


def test_mixed_png_and_dicom_batches_with_monai_collate(png_writer, synthetic_image, tmp_path):
    """Unknown meta values are typed placeholders, so MONAI's default collate batches PNGs and DICOMs together."""
    from monai.data import DataLoader, Dataset

    from raddino_monai.data.synthetic import write_synthetic_dicom
    from raddino_monai.transforms import LoadCXRd, raddino_preprocessing

    items = [
        {"image": str(png_writer((synthetic_image * 255).astype(np.uint8), "a.png"))},
        {"image": str(write_synthetic_dicom(tmp_path / "b.dcm", image=synthetic_image))},
    ]
    transform = raddino_preprocessing(keys="image", size=28)
    loader = DataLoader(Dataset(items, lambda d: transform(LoadCXRd("image")(d))), batch_size=2)
    batch = next(iter(loader))
    assert tuple(batch["image"].shape) == (2, 3, 28, 28)
    assert batch["image"].meta["modality"][0] == "" and batch["image"].meta["modality"][1] != ""

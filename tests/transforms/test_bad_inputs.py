"""Bad-input corpus for LoadCXR: every broken file gives a CXRLoadError naming the file and the problem.

The corpus is generated in ``tmp_path``; awkward-but-valid inputs (RGBA, LA, palette PNG, constant image) must load.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate

from raddino_monai.data.synthetic import write_synthetic_dicom
from raddino_monai.transforms import CXRLoadError, LoadCXR


def _jpeg_ls_dicom(path: Path, image: np.ndarray) -> Path:
    """A DICOM claiming JPEG-LS Lossless with a bogus codestream: no decoder here, a failed decode elsewhere."""
    src = write_synthetic_dicom(path.with_suffix(".src.dcm"), image=image, bits_stored=12)
    ds = pydicom.dcmread(src)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(64) + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    return path


@pytest.fixture
def bad_corpus(tmp_path: Path, synthetic_image: np.ndarray) -> dict[str, tuple[Path, str]]:
    """name -> (file, regex the error message must contain after the path)."""
    grey = np.round(synthetic_image * 255).astype(np.uint8)
    corpus: dict[str, tuple[Path, str]] = {}

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    corpus["zero_byte"] = (empty, "empty file")

    full = tmp_path / "full.png"
    Image.fromarray(grey).save(full)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    corpus["truncated_png"] = (truncated, "truncated or corrupt")

    text = tmp_path / "report.dcm"
    text.write_text("FINDINGS: no acute cardiopulmonary process.\n" * 10)
    corpus["text_named_dcm"] = (text, "not a valid DICOM")

    corpus["dicom_no_pixels"] = (
        write_synthetic_dicom(tmp_path / "nopix.dcm", image=synthetic_image, with_pixel_data=False),
        r"no Pixel Data element \(7FE0,0010\)",
    )
    corpus["jpeg_ls_no_decoder"] = (
        _jpeg_ls_dicom(tmp_path / "jpegls.dcm", synthetic_image),
        r"JPEG-LS Lossless.*1\.2\.840\.10008\.1\.2\.4\.80.*pip install pylibjpeg pylibjpeg-libjpeg",
    )

    volume = tmp_path / "volume.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((16, 16, 8)).astype(np.float32), np.eye(4)), str(volume))
    corpus["volume_3d"] = (volume, r"expected a 2-D image.*\(16, 16, 8\)")

    tiny = tmp_path / "tiny.png"
    Image.fromarray(grey[:10, :20]).save(tiny)
    corpus["smaller_than_patch"] = (tiny, r"10x20 px, smaller than min_size=14")

    for name, value in {"nan": np.nan, "inf": np.inf}.items():
        data = synthetic_image.T.copy()
        data[3, 4] = value
        path = tmp_path / f"{name}.nii"
        nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
        corpus[f"{name}_pixels"] = (path, r"1 non-finite pixel values")
    return corpus


CASES = [
    "zero_byte", "truncated_png", "text_named_dcm", "dicom_no_pixels", "jpeg_ls_no_decoder",
    "volume_3d", "smaller_than_patch", "nan_pixels", "inf_pixels",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_clear_load_error(bad_corpus, case):
    path, problem = bad_corpus[case]
    with pytest.raises(CXRLoadError) as err:
        LoadCXR()(path)
    assert type(err.value) is CXRLoadError
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert err.value.path == str(path)
    assert re.search(problem, message), message
    assert "Traceback" not in message


def test_missing_decoder_message_names_package(monkeypatch, sample_dicom_dir):
    """Simulate a missing JPEG decoder (as pydicom reports it) on the real JPEG-baseline DICOM."""

    def no_plugin(self):  # pydicom 3 wording when every plugin lacks its dependencies
        raise RuntimeError(
            "Unable to decode the pixel data as a (0002,0010) 'Transfer Syntax UID' value of 'JPEG Baseline "
            "(Process 1)' is not supported because all plugins are missing dependencies"
        )

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_plugin))
    path = sample_dicom_dir / "cxr_monochrome2_jpeg.dcm"
    with pytest.raises(CXRLoadError) as err:
        LoadCXR()(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert "JPEG Baseline" in message and "1.2.840.10008.1.2.4.50" in message and "pip install pillow" in message


def test_min_size_is_configurable(bad_corpus):
    path, _ = bad_corpus["smaller_than_patch"]
    assert tuple(LoadCXR(min_size=8)(path).shape) == (1, 10, 20)


def test_constant_image_loads_and_minmax_gives_zeros(tmp_path):
    path = tmp_path / "constant.png"
    Image.fromarray(np.full((32, 32), 77, np.uint8)).save(path)
    np.testing.assert_allclose(LoadCXR()(path).numpy(), 77 / 255, atol=1e-7)
    minmax = LoadCXR(intensity="minmax")(path)
    assert np.all(np.isfinite(minmax.numpy())) and float(minmax.abs().max()) == 0.0  # documented: no range -> 0


def test_rgba_la_and_palette_png_load_as_grey(tmp_path, synthetic_image):
    grey = np.round(synthetic_image * 255).astype(np.uint8)
    alpha = np.random.default_rng(0).integers(0, 256, grey.shape, dtype=np.uint8)
    expected = grey / np.float32(255)
    Image.fromarray(np.stack([grey, grey, grey, alpha], -1), mode="RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.stack([grey, alpha], -1), mode="LA").save(tmp_path / "la.png")
    # palette image: index = 255 - grey, palette entry i = grey level 255 - i, so only a palette lookup gives grey
    palette = Image.fromarray((255 - grey).astype(np.uint8), mode="L")
    palette = Image.frombytes("P", palette.size, palette.tobytes())
    palette.putpalette([v for i in range(256) for v in (255 - i,) * 3])
    palette.save(tmp_path / "palette.png")
    with Image.open(tmp_path / "palette.png") as check:
        assert check.mode == "P"
    for name in ("rgba.png", "la.png", "palette.png"):
        img = LoadCXR()(tmp_path / name)
        assert tuple(img.shape) == (1, *grey.shape), name
        np.testing.assert_allclose(img[0].numpy(), expected, atol=1e-6, err_msg=name)



def test_dataset_skips_the_whole_corpus_logging_and_counting_each(bad_corpus, tmp_path, synthetic_image, caplog):
    """``build_dataset(skip_bad_files=True)`` with the package loader drops every corpus file, logs and counts it."""
    import logging

    from raddino_monai.data.datasets import build_dataset
    from raddino_monai.transforms import LoadCXRd

    good = tmp_path / "good.png"
    Image.fromarray(np.round(synthetic_image * 255).astype(np.uint8)).save(good)
    items = [{"image": str(good)}] + [{"image": str(bad_corpus[case][0])} for case in CASES]
    caplog.set_level(logging.WARNING, logger="raddino_monai.data.datasets")
    ds = build_dataset(items, [LoadCXRd("image")], cache="none")
    assert len(ds) == 1 and ds.num_bad_files == len(CASES)
    assert [bad.path for bad in ds.bad_files] == [str(bad_corpus[case][0]) for case in CASES]
    for case, bad in zip(CASES, ds.bad_files):
        assert re.search(bad_corpus[case][1], bad.reason), (case, bad.reason)
        assert f"skipping unreadable file {bad.path}: " in caplog.text
    assert f"skipped {len(CASES)} of {len(items)} datalist items" in caplog.text

"""Tests for raddino_monai.transforms.dicom: Modality LUT, BitsStored, MONOCHROME1, VOI window, de-identified meta."""

from __future__ import annotations

import logging

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from raddino_monai.data.synthetic import FAKE_IDENTIFIERS, write_synthetic_dicom
from raddino_monai.transforms import CXRLoadError, LoadCXR
from raddino_monai.transforms.dicom import SAFE_ATTRIBUTES, read_dicom, voi_window_unit


@pytest.mark.parametrize(
    "bits, photometric",
    [(8, "MONOCHROME2"), (12, "MONOCHROME2"), (12, "MONOCHROME1"), (15, "MONOCHROME1"), (16, "MONOCHROME2")],
)
def test_bits_mode_round_trip(tmp_path, synthetic_image, bits, photometric):
    path = write_synthetic_dicom(tmp_path / "x.dcm", image=synthetic_image, bits_stored=bits, photometric=photometric)
    img = LoadCXR()(path)
    # stored = round(displayed * full_scale): loading must give the displayed image back within half a level
    np.testing.assert_allclose(img[0].numpy(), synthetic_image, atol=0.5 / (2**bits - 1) + 1e-6)
    assert img.meta["bits_stored"] == bits and img.meta["photometric_interpretation"] == photometric


def test_15bit_monochrome1_range(tmp_path):
    """Like the NEMA RG1 file: 15 bits stored, MONOCHROME1. Stored 0 is white, stored 32767 black."""
    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (32, 1))
    path = write_synthetic_dicom(tmp_path / "rg1_like.dcm", image=ramp, bits_stored=15, photometric="MONOCHROME1")
    ds = pydicom.dcmread(path)
    assert ds.pixel_array.max() == 32767 and ds.pixel_array[0, 0] == 32767  # displayed black is stored max
    img = LoadCXR()(path)[0].numpy()
    assert img.min() == 0.0 and img.max() == 1.0
    assert img[0, 0] == 0.0 and img[0, -1] == 1.0  # black on the left, white on the right, as displayed
    assert np.all(np.diff(img[0]) > 0)  # monotone: not clipped, not folded by a wrong full scale


def test_modality_lut_rescale(tmp_path, synthetic_image):
    path = write_synthetic_dicom(tmp_path / "r.dcm", image=synthetic_image, bits_stored=12, rescale=(2.0, -100.0))
    stored = pydicom.dcmread(path).pixel_array.astype(np.float64)
    # "bits": full scale is the Modality-LUT image of the stored range [0, 4095] -> [-100, 8090]
    expected = (stored * 2.0 - 100.0 + 100.0) / (4095 * 2.0)
    np.testing.assert_allclose(LoadCXR()(path)[0].numpy(), expected, atol=1e-6)


def test_window_from_file_and_explicit(tmp_path, synthetic_image):
    path = write_synthetic_dicom(
        tmp_path / "w.dcm", image=synthetic_image, bits_stored=12, rescale=(1.0, -1000.0), window=(600.0, 1200.0)
    )
    stored = pydicom.dcmread(path).pixel_array.astype(np.float64)
    hu = stored - 1000.0
    expected_file = np.clip((hu - 599.5) / 1199.0 + 0.5, 0, 1)  # PS3.3 C.11.2.1.2 LINEAR window
    np.testing.assert_allclose(LoadCXR(intensity="window")(path)[0].numpy(), expected_file, atol=1e-6)
    expected_explicit = np.clip((hu - 99.5) / 399.0 + 0.5, 0, 1)
    np.testing.assert_allclose(
        LoadCXR(intensity="window", window=(100.0, 400.0))(path)[0].numpy(), expected_explicit, atol=1e-6
    )


def _lut_item(lut: np.ndarray, first: int, bits: int) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [len(lut), first, bits]
    item.LUTData = [int(v) for v in lut]
    item["LUTData"].VR = "US"
    return item


def test_voi_lut_sequence_is_used_for_window_mode(tmp_path, synthetic_image):
    """A VOI LUT Sequence (here a square-root curve, 4096 entries of 16 bits) is applied and scaled by its bits."""
    path = write_synthetic_dicom(tmp_path / "v.dcm", image=synthetic_image, bits_stored=12)
    ds = pydicom.dcmread(path)
    lut = np.round(65535 * np.sqrt(np.arange(4096) / 4095.0)).astype(np.int64)
    ds.VOILUTSequence = [_lut_item(lut, 0, 16)]
    ds.save_as(path)
    stored = pydicom.dcmread(path).pixel_array
    np.testing.assert_allclose(LoadCXR(intensity="window")(path)[0].numpy(), lut[stored] / 65535.0, atol=1e-6)


def test_modality_lut_sequence_sets_values_and_full_scale(tmp_path, synthetic_image):
    """A Modality LUT Sequence (v = 2 s + 10) replaces Rescale Slope/Intercept; "bits" uses its output range."""
    path = write_synthetic_dicom(tmp_path / "m.dcm", image=synthetic_image, bits_stored=12)
    ds = pydicom.dcmread(path)
    item = _lut_item(2 * np.arange(4096) + 10, 0, 16)
    item.ModalityLUTType = "US"
    ds.ModalityLUTSequence = [item]
    ds.save_as(path)
    stored = pydicom.dcmread(path).pixel_array.astype(np.float64)
    expected = (2 * stored + 10 - 10) / (2 * 4095)
    np.testing.assert_allclose(LoadCXR()(path)[0].numpy(), expected, atol=1e-6)


def test_window_on_monochrome1_is_inverted(tmp_path, synthetic_image):
    kw = {"image": synthetic_image, "window": (2048, 4096)}
    m1 = write_synthetic_dicom(tmp_path / "m1.dcm", photometric="MONOCHROME1", **kw)
    m2 = write_synthetic_dicom(tmp_path / "m2.dcm", photometric="MONOCHROME2", **kw)
    a, b = LoadCXR(intensity="window")(m1)[0].numpy(), LoadCXR(intensity="window")(m2)[0].numpy()
    np.testing.assert_allclose(a, b, atol=2.0 / 4095)  # both show the same displayed image


def test_window_missing_is_a_load_error(tmp_path, synthetic_image):
    path = write_synthetic_dicom(tmp_path / "nw.dcm", image=synthetic_image)
    with pytest.raises(CXRLoadError, match="WindowCenter/WindowWidth"):
        LoadCXR(intensity="window")(path)


def test_voi_window_unit_functions():
    x = np.array([-10.0, 0.0, 50.0, 100.0, 200.0])
    assert voi_window_unit(x, 50.0, 101.0).tolist()[0] == 0.0 and voi_window_unit(x, 50, 101)[-1] == 1.0
    np.testing.assert_allclose(voi_window_unit(x, 50.0, 100.0, "LINEAR_EXACT"), np.clip(x / 100.0, 0, 1), atol=1e-6)
    assert voi_window_unit(np.array([50.0]), 50.0, 10.0, "SIGMOID")[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="LINEAR"):
        voi_window_unit(x, 50.0, 100.0, "LOG")


def test_spacing_fallbacks(tmp_path, synthetic_image):
    imager = write_synthetic_dicom(
        tmp_path / "i.dcm", image=synthetic_image, pixel_spacing=None, imager_pixel_spacing=(0.15, 0.14)
    )
    assert LoadCXR()(imager).meta["pixel_spacing"] == pytest.approx((0.15, 0.14))
    zero = write_synthetic_dicom(tmp_path / "z.dcm", image=synthetic_image, pixel_spacing=(0.0, 0.0))
    assert np.isnan(LoadCXR()(zero).meta["pixel_spacing"]).all()


def test_identifiers_never_leave_the_reader(tmp_path, synthetic_image, caplog):
    path = write_synthetic_dicom(tmp_path / "phi.dcm", image=synthetic_image, identifiers=True)
    assert pydicom.dcmread(path).PatientName == FAKE_IDENTIFIERS["PatientName"]  # the file really holds them
    secrets = [*FAKE_IDENTIFIERS.values(), "Doe", "Jane", "8675309", "073Y"]
    with caplog.at_level(logging.DEBUG):
        img = LoadCXR()(path)
        with pytest.raises(CXRLoadError) as err:
            LoadCXR(min_size=100)(path)  # an error raised after the header was read
    text = repr(img.meta) + str(err.value) + caplog.text
    assert not [s for s in secrets if s in text]
    assert set(read_dicom(path)[1]) == {*SAFE_ATTRIBUTES.values(), "pixel_spacing"}


def test_real_monochrome1_twin_is_inverse(sample_dicom_dir):
    """torchxrayvision's Fake_MONOHR1 has the pixels of the MONOCHROME2 file: displayed images are inverses."""
    m2 = LoadCXR()(sample_dicom_dir / "cxr_monochrome2_jpeg.dcm")
    m1 = LoadCXR()(sample_dicom_dir / "cxr_monochrome1_jpeg.dcm")
    assert tuple(m2.shape) == (1, 1024, 1024)
    assert float((m1 + m2 - 1.0).abs().max()) <= 1.0 / 255
    assert float(m2.std()) > 0.1  # a real radiograph, not a blank decode
    meta = m2.meta
    assert (meta["modality"], meta["view_position"], meta["bits_stored"]) == ("CR", "PA", 8)
    assert meta["pixel_spacing"] == pytest.approx((0.168, 0.168))
    assert m1.meta["photometric_interpretation"] == "MONOCHROME1"


def test_jpeg2000_decodes_through_optional_decoder(tmp_path, synthetic_image):
    """A lossless JPEG 2000 DICOM (the optional ``dicom`` extra: pylibjpeg + openjpeg) equals its uncompressed twin.

    The codestream is made with ``openjpeg.encode`` and encapsulated by hand, which works on pydicom 2.4 and 3.
    """
    openjpeg = pytest.importorskip("openjpeg")
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    path = write_synthetic_dicom(tmp_path / "u.dcm", image=synthetic_image, bits_stored=12)
    ds = pydicom.dcmread(path)
    codestream = openjpeg.encode(ds.pixel_array, bits_stored=12, photometric_interpretation=2)  # 2 = greyscale
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    j2k = tmp_path / "j2k.dcm"
    ds.save_as(j2k)
    assert str(pydicom.dcmread(j2k).file_meta.TransferSyntaxUID) == JPEG2000Lossless
    np.testing.assert_array_equal(LoadCXR()(j2k)[0].numpy(), LoadCXR()(path)[0].numpy())

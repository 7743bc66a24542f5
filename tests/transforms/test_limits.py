"""Header bombs: files whose header declares a huge image fail fast, naming the file, without allocating it.

Allocation is measured with ``tracemalloc`` (NumPy and Python buffers report to it): the loader's peak must stay far
below the declared size. A negative control shows that the same measurement sees a real allocation of that kind.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from raddino_monai.data.synthetic import write_synthetic_dicom
from raddino_monai.transforms import CXRLoadError, LoadCXR
from raddino_monai.transforms.limits import DEFAULT_MAX_PIXELS, check_declared_size

PEAK_LIMIT = 64 * 2**20  # bytes; the declared images below need 1.7 GiB to 3.4 GiB


def _nifti_bomb(path: Path) -> Path:
    """A 368-byte NIfTI-1 (348-byte header, 4 extension bytes, 16 data bytes) whose header says 30000 x 30000
    float32, i.e. 3.4 GiB."""
    nib.save(nib.Nifti1Image(np.zeros((2, 2), np.float32), np.eye(4)), str(path))
    raw = bytearray(path.read_bytes())
    assert len(raw) == 368
    raw[40:56] = struct.pack("<8h", 2, 30000, 30000, 1, 1, 1, 1, 1)  # dim[0..7]
    path.write_bytes(bytes(raw))
    return path


def _peak_of(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_nifti_header_bomb_fails_fast_without_allocating(tmp_path):
    bomb = _nifti_bomb(tmp_path / "bomb.nii")
    assert bomb.stat().st_size == 368 and nib.load(str(bomb)).shape == (30000, 30000)
    errors = []

    def load() -> None:
        try:
            LoadCXR()(bomb)
        except CXRLoadError as err:
            errors.append(err)

    peak = _peak_of(load)
    assert errors and errors[0].path == str(bomb)
    assert "30000x30000 NIfTI float32 image (3.4 GiB of pixel data) but the file holds only 368 bytes" in str(errors[0])
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def test_tracemalloc_sees_a_real_allocation_of_that_size():
    """Negative control for the measurement: an array of 244 MiB is visible to tracemalloc."""
    assert _peak_of(lambda: np.empty((8000, 8000), np.float32).sum()) > 200 * 2**20


def test_compressed_nifti_over_the_pixel_cap(tmp_path):
    import gzip

    plain = _nifti_bomb(tmp_path / "bomb.nii")
    raw = bytearray(plain.read_bytes())
    raw[40:56] = struct.pack("<8h", 2, 12000, 12000, 1, 1, 1, 1, 1)  # 144 M pixels > the default cap
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(gzip.compress(bytes(raw)))  # compressed: the file size says nothing, the cap decides
    with pytest.raises(CXRLoadError, match=r"bomb\.nii\.gz: header declares a 12000x12000 NIfTI float32 image = "
                                           r"144,000,000 pixels, more than max_pixels=89,478,485"):
        LoadCXR()(bomb)


def _forged_dicom(path: Path, rows: int, cols: int, transfer_syntax: str | None = None) -> Path:
    src = write_synthetic_dicom(path.with_suffix(".src.dcm"), size=(16, 16), bits_stored=12)
    ds = pydicom.dcmread(src)
    ds.Rows, ds.Columns = rows, cols
    if transfer_syntax is not None:
        from pydicom.encaps import encapsulate

        ds.file_meta.TransferSyntaxUID = transfer_syntax
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
        ds["PixelData"].VR = "OB"
    ds.save_as(path)
    return path


def test_forged_uncompressed_dicom_fails_fast_without_allocating(tmp_path):
    bomb = _forged_dicom(tmp_path / "1.2.826.0.1.3680043.8.498.1.dcm", 30000, 30000)
    errors = []

    def load() -> None:
        try:
            LoadCXR()(bomb)
        except CXRLoadError as err:
            errors.append(err)

    peak = _peak_of(load)
    assert errors, "the forged DICOM loaded"
    message = str(errors[0])
    assert message.startswith(str(bomb)) and "30000x30000 uncompressed 16-bit DICOM image (1.7 GiB" in message
    assert "the file holds only" in message and peak < PEAK_LIMIT
    assert "Anonymous" not in message and "PAT" not in message  # no identifier of the synthetic patient


def test_forged_compressed_dicom_over_the_pixel_cap(tmp_path):
    bomb = _forged_dicom(tmp_path / "jpeg.dcm", 20000, 20000, pydicom.uid.JPEGBaseline8Bit)
    with pytest.raises(CXRLoadError, match=r"20000x20000 compressed 16-bit DICOM image = 400,000,000 pixels"):
        LoadCXR()(bomb)
    small = write_synthetic_dicom(tmp_path / "ok.dcm", size=(20, 16))
    assert LoadCXR(max_pixels=320)(small).shape == (1, 20, 16)
    with pytest.raises(CXRLoadError, match="20x16 uncompressed 16-bit DICOM image = 320 pixels"):
        LoadCXR(max_pixels=319)(small)


def _png_with_size(path: Path, width: int, height: int) -> Path:
    """A valid 16 x 16 grey PNG whose IHDR is rewritten to ``width x height`` (CRC fixed): a header-only bomb."""
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(path)
    raw = bytearray(path.read_bytes())
    raw[16:24] = struct.pack(">II", width, height)  # IHDR data starts after signature (8) + length (4) + type (4)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("side, expected", [
    (10000, r"10000x10000 PNG image = 100,000,000 pixels, more than max_pixels=89,478,485"),  # Pillow would only warn
    (20000, r"Pillow refuses to open it as a decompression bomb"),  # over Pillow's own 2x error threshold
])
def test_png_header_bombs(tmp_path, side, expected):
    bomb = _png_with_size(tmp_path / f"bomb{side}.png", side, side)
    peak_errors = []

    def load() -> None:
        with pytest.raises(CXRLoadError, match=expected) as info:
            LoadCXR()(bomb)
        peak_errors.append(info.value)

    assert _peak_of(load) < PEAK_LIMIT and peak_errors[0].path == str(bomb)


def test_pixel_cap_is_configurable_and_checked(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((40, 30), np.uint8)).save(path)
    assert LoadCXR(max_pixels=1200)(path).shape == (1, 40, 30)
    with pytest.raises(CXRLoadError, match="40x30 PNG image = 1,200 pixels, more than max_pixels=1,199"):
        LoadCXR(max_pixels=1199)(path)
    with pytest.raises(ValueError, match="max_pixels must be >= min_size"):
        LoadCXR(max_pixels=10)
    assert DEFAULT_MAX_PIXELS == Image.MAX_IMAGE_PIXELS  # Pillow's default threshold (unless changed globally)
    check_declared_size("ok.nii", (100, 100), 10**4, needed_bytes=100, file_bytes=100)  # exactly full: fine

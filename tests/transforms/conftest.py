"""Fixtures for tests/transforms: synthetic images written as PNG / NIfTI in ``tmp_path``, and the sample data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raddino_monai.data.synthetic import make_synthetic_cxr

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "raddino_monai" / "sample_data"


def write_nifti(path: Path, image_rc: np.ndarray, spacing: tuple[float, float] = (0.5, 0.25)) -> Path:
    """Write a displayed-orientation (rows, cols) array as NIfTI in the x = column convention (data = image.T)."""
    import nibabel as nib

    data = np.asarray(image_rc).T
    nii = nib.Nifti1Image(data, np.diag([spacing[1], spacing[0], 1.0, 1.0]))
    nii.header.set_zooms((spacing[1], spacing[0], *([1.0] * (data.ndim - 2))))
    nib.save(nii, str(path))
    return path


@pytest.fixture(scope="session")
def nifti_writer() -> Callable[..., Path]:
    """:func:`write_nifti` as a fixture (test modules here are not importable as a package)."""
    return write_nifti


@pytest.fixture(scope="session")
def synthetic_image() -> np.ndarray:
    """A non-square synthetic radiograph (H, W) = (72, 56), float32 in [0, 1]."""
    return make_synthetic_cxr((72, 56), seed=7)[0]


@pytest.fixture
def png_writer(tmp_path: Path) -> Callable[..., Path]:
    """``png_writer(array, name, mode=None)`` writes an array with PIL into ``tmp_path`` and returns its path."""

    def write(array: np.ndarray, name: str = "image.png", mode: str | None = None) -> Path:
        path = tmp_path / name
        image = Image.fromarray(array, mode=mode) if mode else Image.fromarray(array)
        image.save(path)
        return path

    return write


@pytest.fixture(scope="session")
def sample_dicom_dir() -> Path:
    """``raddino_monai/sample_data/dicom`` (the two torchxrayvision JPEG-baseline DICOMs)."""
    return SAMPLE_DATA / "dicom"


@pytest.fixture(scope="session")
def sample_pngs() -> list[Path]:
    """The first few embedded sample radiographs (8-bit grey PNG, <= 256 px)."""
    return sorted((SAMPLE_DATA / "images").glob("*.png"))[:4]

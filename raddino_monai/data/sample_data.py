"""Paths of the sample chest X-rays embedded in the package (``raddino_monai/sample_data``).

The sample holds 100 real radiographs of 53 patients (8-bit grey PNG, longest side 256 px) from the CC BY subset of
the ieee8023 covid-chestxray-dataset, 90 of them with V7 Labs lung masks (0/255 PNG of the image's size); see
``sample_data/ATTRIBUTION.md`` for per-image credit and licences and ``sample_data/metadata.csv`` for the source of
each image. ``sample_data/datalist.json`` splits it by patient into training / validation / test sections
(:func:`raddino_monai.data.splits.patient_split`, seed 0, stratified by finding). Items carry ``image``, ``mask``
(when there is one), ``label`` (the finding: ``"COVID-19"``, ``"No Finding"`` or ``"Pneumocystis"``),
``patient_id``, ``sex``, ``age``, ``view`` (e.g. ``"AP Supine"``) and ``view_group`` (``"PA"`` / ``"AP"``).
Regenerate it with ``tools/make_sample_data.py``.

``sample_data/dicom`` holds two small Apache-2.0 DICOMs from torchxrayvision's tests (one CR chest PA, JPEG Baseline,
8 bits): the MONOCHROME2 original and its MONOCHROME1 twin (same pixels, only PhotometricInterpretation changed),
see :func:`sample_dicom_paths` and ``sample_data/dicom/ATTRIBUTION.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from raddino_monai.data.datalist import load_datalist

__all__ = [
    "SAMPLE_DICOMS", "sample_data_dir", "sample_datalist_path", "sample_dicom_paths", "load_sample_datalist",
]  # fmt: skip

#: PhotometricInterpretation -> file name of the embedded sample DICOM (``sample_data/dicom``)
SAMPLE_DICOMS: dict[str, str] = {
    "MONOCHROME2": "cxr_monochrome2_jpeg.dcm",
    "MONOCHROME1": "cxr_monochrome1_jpeg.dcm",
}


def sample_data_dir() -> Path:
    """Folder of the embedded sample data (inside the installed package).

    Returns:
        absolute path of ``raddino_monai/sample_data``.

    Raises:
        FileNotFoundError: if the package was installed without its data files.

    Example:
        >>> (sample_data_dir() / "datalist.json").is_file()
        True
    """
    folder = Path(__file__).resolve().parent.parent / "sample_data"
    if not (folder / "datalist.json").is_file():
        raise FileNotFoundError(
            f"sample_data_dir: {folder / 'datalist.json'} is missing; the package was installed without its "
            "package data (setup.cfg [options.package_data])."
        )
    return folder


def sample_datalist_path() -> Path:
    """Path of the sample datalist ``sample_data/datalist.json`` (decathlon format, relative paths).

    Returns:
        absolute path of the JSON datalist.
    """
    return sample_data_dir() / "datalist.json"


def sample_dicom_paths() -> dict[str, Path]:
    """The two embedded sample DICOMs, keyed by PhotometricInterpretation (see :data:`SAMPLE_DICOMS`).

    Returns:
        ``{"MONOCHROME2": path, "MONOCHROME1": path}``: absolute paths; loaded with ``LoadCXR`` the two images are
        inverses of each other (within one grey level).

    Raises:
        FileNotFoundError: if the package was installed without its data files.

    Example:
        >>> sorted(sample_dicom_paths())
        ['MONOCHROME1', 'MONOCHROME2']
    """
    folder = sample_data_dir() / "dicom"
    paths = {photometric: folder / name for photometric, name in SAMPLE_DICOMS.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"sample_dicom_paths: {missing} missing; the package was installed without its package data."
        )
    return paths


def load_sample_datalist(split: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Items of the sample datalist with absolute ``image`` / ``mask`` paths.

    Args:
        split: ``"training"``, ``"validation"``, ``"test"``, a list of these, or ``None`` for all 100 items (each
            then has a ``"split"`` key).

    Returns:
        list of item dicts (fresh copies; safe to modify).

    Raises:
        DatalistError: for an unknown split name (the message lists the valid ones).

    Example:
        >>> items = load_sample_datalist("training")
        >>> sorted({"image", "label", "patient_id"} - set(items[0]))
        []
    """
    return load_datalist(sample_datalist_path(), split=split)

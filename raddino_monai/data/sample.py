"""Paths of the sample chest X-rays embedded in the package (``raddino_monai/sample_data``).

The sample holds 100 real radiographs of 53 patients (8-bit grey PNG, longest side 256 px) from the CC BY subset of
the ieee8023 covid-chestxray-dataset, 90 of them with V7 Labs lung masks (0/255 PNG of the image's size); see
``sample_data/ATTRIBUTION.md`` for per-image credit and licences and ``sample_data/metadata.csv`` for the source of
each image. ``sample_data/datalist.json`` splits it by patient into training / validation / test sections
(:func:`raddino_monai.data.splits.patient_split`, seed 0, stratified by finding). Items carry ``image``, ``mask``
(when there is one), ``label`` (the finding: ``"COVID-19"``, ``"No Finding"`` or ``"Pneumocystis"``),
``patient_id``, ``sex``, ``age``, ``view`` (e.g. ``"AP Supine"``) and ``view_group`` (``"PA"`` / ``"AP"``).
Regenerate it with ``tools/make_sample_data.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from raddino_monai.data.datalist import load_datalist

__all__ = ["sample_data_dir", "sample_datalist_path", "load_sample_datalist"]


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

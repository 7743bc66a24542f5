"""The 2-D pitfalls of MONAI Label's datastores, checked without a server (serving environment only).

* DICOMweb: the stock search filter ``{"Modality": "CT"}`` hides radiographs; ours lists CR and DX series and
  serves the DICOM file itself.
* SimpleITK's single-file DICOM -> NIfTI conversion (what the stock DICOMweb datastore feeds the models): measured
  on both sample DICOMs, it keeps rows x columns and the displayed polarity (GDCM applies MONOCHROME1 itself), so
  ``LoadCXR`` reads the NIfTI as the DICOM; what it drops is the DICOM header (VOI LUT, view, modality).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from label_cases import STUDIES
from monailabel.config import settings
from monailabel.datastore.utils.convert import dicom_to_nifti

from raddino_monai.serving.label import datastore as cxr_datastore
from raddino_monai.serving.label.datastore import CXR_EXTENSIONS, CXRDICOMWebDatastore
from raddino_monai.transforms import LoadCXR


class FakeDICOMweb:
    """The two QIDO-RS calls the datastore makes, answering from a fixed table of series."""

    base_url = "http://127.0.0.1:1/dicom-web"

    def __init__(self, series: dict[str, str]) -> None:
        self.series = series  # SeriesInstanceUID -> Modality
        self.queries: list[dict[str, Any]] = []

    def search_for_series(self, search_filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.queries.append(dict(search_filters))
        return [{"0020000E": {"vr": "UI", "Value": [uid]}, "00080060": {"vr": "CS", "Value": [mod]}}
                for uid, mod in self.series.items() if mod == search_filters.get("Modality")]


def test_stock_defaults_miss_radiographs() -> None:
    assert settings.MONAI_LABEL_DICOMWEB_SEARCH_FILTER == {"Modality": "CT"}
    stock = set(settings.MONAI_LABEL_DATASTORE_FILE_EXT)
    assert "*.dcm" not in stock and "*.jpeg" not in stock
    assert {"*.dcm", "*.jpeg", "*.jpg", "*.png"} <= set(CXR_EXTENSIONS)


def test_dicomweb_lists_cr_dx_and_serves_the_dicom_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeDICOMweb({"1.2.3.1": "CR", "1.2.3.2": "DX", "1.2.3.3": "CT"})

    def download(study: Any, series: str, save_dir: str, *args: Any) -> None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(STUDIES["mono1"], Path(save_dir) / f"{series}.dcm")

    monkeypatch.setattr(cxr_datastore, "dicom_web_download_series", download)
    store = CXRDICOMWebDatastore(client=client, cache_path=str(tmp_path))
    assert store.list_images() == ["1.2.3.1", "1.2.3.2"]
    assert {"Modality": "CR"} in client.queries and {"Modality": "DX"} in client.queries
    uri = store.get_image_uri("1.2.3.1")
    assert uri.endswith(".dcm")
    np.testing.assert_array_equal(np.asarray(LoadCXR()(uri)), np.asarray(LoadCXR()(str(STUDIES["mono1"]))))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("name", ["mono2", "mono1"])
def test_simpleitk_nifti_conversion_keeps_orientation_and_polarity(name: str, tmp_path: Path) -> None:
    series = tmp_path / "series"
    series.mkdir()
    src = STUDIES[name]
    shutil.copy(src, series / src.name)
    converted = dicom_to_nifti(str(series))
    direct = np.asarray(LoadCXR()(str(src)))[0]
    via_nifti = np.asarray(LoadCXR()(converted))[0]
    assert via_nifti.shape == direct.shape  # rows x columns survive
    assert _corr(direct, via_nifti) > 0.999  # same picture, MONOCHROME1 included
    assert _corr(direct, via_nifti.T) < 0.9 and _corr(direct, via_nifti[::-1]) < 0.9  # the check can tell
    assert LoadCXR()(converted).meta["photometric_interpretation"] != "MONOCHROME1"  # the header is gone

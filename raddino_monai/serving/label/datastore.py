"""Datastores for 2-D radiographs in MONAI Label.

MONAI Label's defaults miss chest X-rays in three ways (read in ``monailabel/config.py`` and ``datastore/``):

* the local datastore lists ``*.nii.gz *.nii *.nrrd *.jpg *.png *.tif *.svs *.xml``: no ``.dcm``, no ``.jpeg``.
  :class:`CXRDatastore` lists :data:`CXR_EXTENSIONS`;
* the DICOMweb datastore searches with ``{"Modality": "CT"}``, so CR/DX series are invisible, and converts each
  series to NIfTI with SimpleITK ``GDCMImageIO``. For the sample radiographs that conversion keeps rows x columns
  and the displayed polarity (GDCM applies MONOCHROME1), but the DICOM header is gone (VOI LUT for
  ``intensity="window"``, view position, modality, bits stored). :class:`CXRDICOMWebDatastore` searches each of
  :data:`CXR_MODALITIES` and hands the single DICOM file itself to the bundles (``LoadCXR`` reads it in displayed
  orientation with its header);
* uploads are copied into the datastore unchecked, and an upload with an existing id replaces that image.
  :class:`CXRDatastore` reads every uploaded image and label first and refuses unreadable files, labels whose size
  differs from their image, and image ids that already exist, each with an HTTP 4xx answer naming the problem.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from monailabel.datastore.dicom import DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.datastore.utils.dicom import dicom_web_download_series
from pydicom.dataset import Dataset

from raddino_monai.transforms.masks import read_mask_file
from raddino_monai.transforms.errors import CXRLoadError
from raddino_monai.transforms.io import LoadCXR

__all__ = ["CXR_EXTENSIONS", "CXR_MODALITIES", "check_image_file", "check_label_file", "CXRDatastore",
           "CXRDICOMWebDatastore"]

logger = logging.getLogger(__name__)

#: file patterns of the local datastore (images and labels).
CXR_EXTENSIONS: tuple[str, ...] = ("*.png", "*.jpg", "*.jpeg", "*.dcm", "*.nii.gz", "*.nii")

#: DICOM modalities of radiographs: computed and digital radiography (DICOM PS3.3 C.7.3.1.1.1).
CXR_MODALITIES: tuple[str, ...] = ("CR", "DX")


def check_image_file(path: str | Path, name: str) -> tuple[int, int]:
    """Read an image as the bundles will; returns its ``(H, W)``.

    Raises:
        HTTPException: 422 naming ``name`` and the loader's problem (corrupt file, not an image, no pixel data).
    """
    try:
        image = LoadCXR()(str(path))
    except CXRLoadError as err:
        raise HTTPException(status_code=422, detail=f"{name}: not a readable radiograph: {err.problem}") from err
    return int(image.shape[-2]), int(image.shape[-1])


def check_label_file(path: str | Path, name: str, image_shape: tuple[int, int]) -> None:
    """A label must be a 2-D mask of the image's size with non-negative class indices.

    Raises:
        HTTPException: 422 naming ``name``, what was expected and what was found.
    """
    try:
        mask = read_mask_file(path)
    except (ValueError, OSError) as err:  # OSError: Pillow cannot decode the file
        raise HTTPException(status_code=422, detail=f"{name}: not a readable label: {err}") from err
    if tuple(mask.shape) != tuple(image_shape):
        raise HTTPException(status_code=422, detail=f"{name}: label is {mask.shape[0]}x{mask.shape[1]} (HxW), "
                                                     f"its image is {image_shape[0]}x{image_shape[1]}.")
    if mask.min(initial=0) < 0:
        raise HTTPException(status_code=422, detail=f"{name}: label has negative values; expected class indices.")


class CXRDatastore(LocalDatastore):
    """A local datastore of radiographs that checks what it is given (see the module docstring).

    Args:
        datastore_path: the studies folder.
        extensions: file patterns; default :data:`CXR_EXTENSIONS`.
        kwargs: :class:`LocalDatastore` arguments (``auto_reload``, ``read_only``, ...).
    """

    def __init__(self, datastore_path: str, extensions: Sequence[str] = CXR_EXTENSIONS, **kwargs: Any) -> None:
        super().__init__(datastore_path, extensions=list(extensions), **kwargs)

    def _suffix(self, filename: str) -> str:
        name = os.path.basename(filename).lower()
        for ext in sorted((e.replace("*", "") for e in self._extensions), key=len, reverse=True):
            if name.endswith(ext):
                return ext
        raise HTTPException(status_code=415, detail=f"{os.path.basename(filename)}: unsupported file type; "
                                                     f"valid: {sorted(self._extensions)}.")

    def add_image(self, image_id: str, image_filename: str, image_info: dict[str, Any]) -> str:
        """Check, then add an image; an existing id is refused (HTTP 409) instead of replaced."""
        self._suffix(image_filename)
        new_id = image_id or self._to_id(os.path.basename(image_filename))[0]
        if new_id in self._datastore.objects:
            raise HTTPException(status_code=409, detail=f"image id {new_id!r} already exists; remove it first or "
                                                         "upload under another id (nothing was overwritten).")
        check_image_file(image_filename, new_id)
        return super().add_image(new_id, image_filename, image_info)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        """Check the label against its image (readable, same size), then save it under ``label_tag``."""
        self._suffix(label_filename)
        if image_id not in self._datastore.objects:
            raise HTTPException(status_code=404, detail=f"image id {image_id!r} not in the datastore.")
        shape = check_image_file(self.get_image_uri(image_id), image_id)
        check_label_file(label_filename, f"label for {image_id!r}", shape)
        return super().save_label(image_id, label_filename, label_tag, label_info)


class CXRDICOMWebDatastore(DICOMWebDatastore):
    """DICOMweb datastore that lists radiograph series and serves their DICOM file (no NIfTI conversion).

    Args:
        modalities: modalities searched one by one (QIDO-RS matches one value per query); default
            :data:`CXR_MODALITIES`.
        kwargs: :class:`DICOMWebDatastore` arguments (``client``, ``cache_path``, ``fetch_by_frame``); its
            ``search_filter`` is the first modality's and ``convert_to_nifti`` is False.
    """

    def __init__(self, modalities: Sequence[str] = CXR_MODALITIES, **kwargs: Any) -> None:
        self.modalities = tuple(modalities)
        kwargs.update(search_filter={"Modality": self.modalities[0]}, convert_to_nifti=False)
        super().__init__(**kwargs)

    def list_images(self) -> list[str]:
        """SeriesInstanceUIDs of every series whose modality is in :attr:`modalities`."""
        series: list[str] = []
        for modality in self.modalities:
            for ds in self._client.search_for_series(search_filters={"Modality": modality}):
                uid = str(Dataset.from_json(ds)["SeriesInstanceUID"].value)
                if uid not in series:
                    series.append(uid)
        return series

    def get_image_uri(self, image_id: str) -> str:
        """The path of the series' single DICOM file in the local cache (downloaded on first use).

        Raises:
            HTTPException: 422 when the series holds no file or more than one (a radiograph is one image).
        """
        image_dir = Path(self._datastore.image_path()) / image_id
        if not image_dir.is_dir() or not any(image_dir.iterdir()):
            dicom_web_download_series(None, image_id, str(image_dir), self._client, self._fetch_by_frame)
        files = sorted(p for p in image_dir.iterdir() if p.is_file())
        if len(files) != 1:
            raise HTTPException(status_code=422, detail=f"series {image_id}: {len(files)} DICOM files; a radiograph "
                                                         "series holds one image.")
        return str(files[0])


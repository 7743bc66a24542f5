"""``LoadCXR`` / ``LoadCXRd``: PNG, JPEG, TIFF, DICOM and NIfTI chest X-rays -> MetaTensor ``(1, H, W)`` in ``[0, 1]``.

The output follows the image convention of ``docs/architecture.md``: float32, displayed orientation (row ``r`` top to
bottom, column ``c`` left to right, as a viewer shows it), 0 = black as displayed. The file type is chosen by
sniffing the DICOM ``'DICM'`` preamble first (many DICOMs have no suffix), then by suffix through :data:`READERS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from raddino_monai.transforms.dicom import read_dicom
from raddino_monai.transforms.errors import CXRLoadError
from raddino_monai.transforms.limits import DEFAULT_MAX_PIXELS, check_declared_size

__all__ = [
    "INTENSITY_MODES", "READERS", "UNKNOWN_META", "LoadCXR", "LoadCXRd", "LoadCXRD", "LoadCXRDict", "cxr_reader_for",
]  # fmt: skip

#: placeholder meta values for "unknown": typed (never ``None``) so that MONAI's default collate can batch a mix
#: of PNG and DICOM images (``default_collate`` rejects ``None``).
UNKNOWN_META: dict[str, Any] = {
    "pixel_spacing": (float("nan"), float("nan")),
    "view_position": "",
    "modality": "",
    "photometric_interpretation": "",
    "bits_stored": 0,
    "original_channel_dim": 0,
}

#: accepted values of ``intensity`` (see :class:`LoadCXR`)
INTENSITY_MODES = ("bits", "minmax", "window")

#: ``(path, intensity, window, max_pixels) -> (image (H, W) float32 in [0, 1], partial meta)``
Reader = Callable[[str, str, "tuple[float, float] | None", int], "tuple[np.ndarray, dict[str, Any]]"]


def _scale(image: np.ndarray, full_scale: float | None, intensity: str, path: str) -> np.ndarray:
    """Map a raw (H, W) array to [0, 1] for non-DICOM readers."""
    values = image.astype(np.float64)
    if intensity == "window":
        raise CXRLoadError(path, "intensity='window' needs a DICOM VOI window; use 'bits' or 'minmax' for this file")
    if intensity == "bits" and full_scale is not None:
        return np.clip(values / full_scale, 0.0, 1.0).astype(np.float32)
    if intensity == "bits" and values.min() >= 0.0 and values.max() <= 1.0:
        return values.astype(np.float32)  # float data already in [0, 1]
    lo, hi = float(values.min()), float(values.max())
    return ((values - lo) / (hi - lo)).astype(np.float32) if hi > lo else np.zeros(values.shape, np.float32)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an (H, W, 3) array, in float64 (no rounding, unlike PIL's "L" conversion)."""
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _read_pil(
    path: str, intensity: str, window: tuple[float, float] | None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, dict[str, Any]]:
    """PNG / JPEG / TIFF via Pillow: 8/16-bit grey, RGB, RGBA, LA, palette -> grey; EXIF orientation applied.

    Decompression bombs: ``Image.open`` reads the header only; the declared size is checked against ``max_pixels``
    before ``load()`` decodes anything. Pillow's own guard (a warning above ``PIL.Image.MAX_IMAGE_PIXELS``, an error
    above twice that) is superseded by this explicit cap: its warning is silenced, its error reported as such.
    """
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # max_pixels is checked explicitly below
            img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise CXRLoadError(
            path, f"Pillow refuses to open it as a decompression bomb ({exc}); raise PIL.Image.MAX_IMAGE_PIXELS and "
            "LoadCXR(max_pixels=...) to read such an image"
        ) from exc
    except UnidentifiedImageError as exc:
        raise CXRLoadError(path, "not a readable image file (Pillow cannot identify it)") from exc
    except Exception as exc:  # OSError "truncated", SyntaxError, ValueError, struct.error, ...
        raise CXRLoadError(path, f"image file is truncated or corrupt ({type(exc).__name__}: {exc})") from exc
    try:
        with img:
            check_declared_size(path, (img.height, img.width), max_pixels, f"{img.format or 'Pillow'} image")
            img.load()
            img = ImageOps.exif_transpose(img) or img
            mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                array, full_scale = np.asarray(img, dtype=np.uint16), 65535.0
            elif mode == "I":  # 16-bit grey PNGs on older Pillow; 32-bit int TIFFs
                array = np.asarray(img, dtype=np.int64)
                full_scale = 65535.0 if array.min() >= 0 and array.max() <= 65535 else None
            elif mode == "F":
                array, full_scale = np.asarray(img, dtype=np.float64), None
            elif mode == "L":
                array, full_scale = np.asarray(img, dtype=np.uint8), 255.0
            elif mode == "LA":  # alpha is not intensity: keep the luminance band
                array, full_scale = np.asarray(img.getchannel("L"), dtype=np.uint8), 255.0
            else:  # RGB, RGBA (alpha dropped), P / PA (palette), 1, CMYK, YCbCr, ...
                array, full_scale = _luma(np.asarray(img.convert("RGB"))), 255.0
    except CXRLoadError:
        raise
    except Exception as exc:  # OSError "truncated", zlib.error, SyntaxError, ValueError, struct.error, ...
        raise CXRLoadError(path, f"image file is truncated or corrupt ({type(exc).__name__}: {exc})") from exc
    bits = {255.0: 8, 65535.0: 16}.get(full_scale or 0.0, 0)
    return _scale(array, full_scale, intensity, path), {"photometric_interpretation": mode, "bits_stored": bits}


def _check_nifti_header(path: str, nii: Any, max_pixels: int) -> None:
    """Declared shape x itemsize (+ data offset) vs the file size (uncompressed ``.nii``) and the pixel cap."""
    header = nii.header
    shape = tuple(int(s) for s in header.get_data_shape())
    dtype = np.dtype(header.get_data_dtype())
    compressed = str(path).lower().endswith(".gz")
    needed = int(header.get_data_offset()) + math.prod(shape) * dtype.itemsize
    check_declared_size(path, shape, max_pixels, f"NIfTI {dtype.name} image",
                        needed_bytes=None if compressed else needed,
                        file_bytes=None if compressed else Path(path).stat().st_size)


def _read_nifti(
    path: str, intensity: str, window: tuple[float, float] | None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, dict[str, Any]]:
    """2-D NIfTI (or 3-D/4-D with singleton axes). Axis 0 (i, NIfTI x) is the column axis, so the array is
    transposed to (rows, cols) = (j, i); the affine is not used to flip (voxel order is the displayed order).
    ``nib.load`` reads the header only; the declared size is checked (:func:`_check_nifti_header`) before the
    data are read."""
    import nibabel as nib

    try:
        nii = nib.load(path)
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, OSError, ValueError, ...
        raise CXRLoadError(path, f"cannot read NIfTI file ({type(exc).__name__}: {exc})") from exc
    _check_nifti_header(path, nii, max_pixels)
    try:
        data = np.asarray(nii.dataobj)
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, OSError, ValueError, ...
        raise CXRLoadError(path, f"cannot read NIfTI file ({type(exc).__name__}: {exc})") from exc
    kept = [axis for axis, n in enumerate(data.shape) if n > 1]
    if len(kept) != 2:
        raise CXRLoadError(
            path, f"expected a 2-D image (or 3-D with a singleton axis), found an array of shape {tuple(data.shape)}"
        )
    image = data.reshape([data.shape[a] for a in kept]).T
    zooms = nii.header.get_zooms()
    spacing = (float(zooms[kept[1]]), float(zooms[kept[0]])) if len(zooms) > kept[1] else None
    full_scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(image.dtype)
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        bad = int((~np.isfinite(image)).sum())
        raise CXRLoadError(path, f"image has {bad} non-finite pixel values (NaN/inf); expected finite intensities")
    return _scale(image, full_scale, intensity, path), {"pixel_spacing": spacing}


def _read_dicom(
    path: str, intensity: str, window: tuple[float, float] | None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, dict[str, Any]]:
    return read_dicom(path, intensity=intensity, window=window, max_pixels=max_pixels)


#: file suffix (lower case) -> reader ``(path, intensity, window) -> (image (H, W) float32 [0, 1], partial meta)``
READERS: dict[str, Reader] = {
    ".png": _read_pil,
    ".jpg": _read_pil,
    ".jpeg": _read_pil,
    ".tif": _read_pil,
    ".tiff": _read_pil,
    ".bmp": _read_pil,
    ".dcm": _read_dicom,
    ".dicom": _read_dicom,
    ".dic": _read_dicom,
    ".nii": _read_nifti,
    ".nii.gz": _read_nifti,
}


def _has_dicm_preamble(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def cxr_reader_for(path: str | PathLike[str]) -> Reader | None:
    """The reader for ``path``: DICOM if it has the ``'DICM'`` preamble, else by suffix; ``None`` if unsupported.

    Args:
        path: an existing file.

    Returns:
        a reader function from :data:`READERS`, or ``None``.
    """
    p = Path(path)
    if _has_dicm_preamble(p):
        return _read_dicom
    name = p.name.lower()
    for suffix in sorted(READERS, key=len, reverse=True):  # ".nii.gz" before ".gz"-less matches
        if name.endswith(suffix):
            return READERS[suffix]
    return None


class LoadCXR(Transform):
    """Load a chest X-ray file as a float32 ``MetaTensor`` of shape ``(1, H, W)`` in displayed orientation.

    Intensity modes (all give ``[0, 1]``, 0 = black as displayed, MONOCHROME1 inverted):

    * ``"bits"`` (default): integer images are divided by their full scale: ``2**BitsStored - 1`` for DICOM (the
      Modality-LUT output range of the stored range, which is the same for slope 1 / intercept 0), 255 for 8-bit
      and 65535 for 16-bit PNG/JPEG/TIFF and uint8/uint16 NIfTI. Float (and signed-integer NIfTI) data already in
      ``[0, 1]`` are kept; other such data are min-max scaled.
    * ``"minmax"``: image minimum -> 0, maximum -> 1. A constant image has no range: it loads as all zeros.
    * ``"window"``: DICOM only; the VOI window ``window=(center, width)`` if given, else the file's VOI LUT Sequence
      or WindowCenter/WindowWidth (first preset), in Modality-LUT units.

    Meta (always present; unknown values are the typed placeholders of :data:`UNKNOWN_META`: ``""`` for strings,
    ``(nan, nan)`` spacing, ``bits_stored`` 0): ``filename_or_obj``, ``spatial_shape`` ``(H, W)``,
    ``pixel_spacing`` ``(row, col)`` mm, ``view_position``, ``modality``, ``photometric_interpretation``
    (DICOM value, or the Pillow mode for PNG/JPEG), ``bits_stored``, ``original_channel_dim`` (0: the output
    already has its channel first). DICOM patient identifiers never enter meta.

    Args:
        intensity: one of :data:`INTENSITY_MODES`.
        window: explicit VOI window ``(center, width)`` for ``intensity="window"``.
        min_size: smallest accepted height and width in pixels (default 14, one ViT patch).
        max_pixels: largest accepted pixel count as declared by the file's header, checked before decoding
            (header-bomb guard, :mod:`raddino_monai.transforms.limits`; default Pillow's 89,478,485).

    Raises:
        CXRLoadError: (at call time) the file is missing, empty, unsupported, corrupt, not 2-D, smaller than
            ``min_size``, declares more pixels than ``max_pixels`` or more data than it holds, has non-finite
            pixels, or needs a missing DICOM decoder. The message names the file.
        ValueError: (at construction) invalid ``intensity``, ``min_size`` or ``max_pixels``.

    Example:
        >>> img = LoadCXR()("chest.dcm")  # doctest: +SKIP
        >>> img.shape, img.dtype, float(img.min()) >= 0.0  # doctest: +SKIP
        (torch.Size([1, 1024, 1024]), torch.float32, True)
    """

    def __init__(
        self,
        intensity: str = "bits",
        window: tuple[float, float] | None = None,
        min_size: int = 14,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if intensity not in INTENSITY_MODES:
            raise ValueError(f"LoadCXR: intensity must be one of {list(INTENSITY_MODES)}, got {intensity!r}")
        if int(min_size) < 1:
            raise ValueError(f"LoadCXR: min_size must be >= 1, got {min_size}")
        if int(max_pixels) < int(min_size) ** 2:
            raise ValueError(f"LoadCXR: max_pixels must be >= min_size**2 = {int(min_size) ** 2}, got {max_pixels}")
        self.max_pixels = int(max_pixels)
        self.intensity = intensity
        self.window = None if window is None else (float(window[0]), float(window[1]))
        self.min_size = int(min_size)

    def __call__(self, path: str | PathLike[str]) -> MetaTensor:  # type: ignore[override]
        """Load one file.

        Args:
            path: image file path.

        Returns:
            MetaTensor float32 ``(1, H, W)`` in ``[0, 1]`` with the meta listed in the class docstring.

        Raises:
            CXRLoadError: see the class docstring.
        """
        p = Path(path)
        if not p.is_file():
            raise CXRLoadError(p, "file not found" if not p.exists() else "not a regular file")
        if p.stat().st_size == 0:
            raise CXRLoadError(p, "empty file (0 bytes)")
        reader = cxr_reader_for(p)
        if reader is None:
            raise CXRLoadError(
                p, f"unsupported file type; expected a DICOM ('DICM' preamble) or one of {sorted(READERS)}"
            )
        image, partial = reader(str(p), self.intensity, self.window, self.max_pixels)
        self._check(str(p), image)
        meta: dict[str, Any] = {"filename_or_obj": str(p), "spatial_shape": np.asarray(image.shape, dtype=np.int64)}
        meta.update(UNKNOWN_META)
        meta.update({key: value for key, value in partial.items() if value is not None})
        spacing = (1.0, 1.0) if np.isnan(meta["pixel_spacing"]).any() else meta["pixel_spacing"]
        affine = torch.diag(torch.tensor([spacing[0], spacing[1], 1.0], dtype=torch.float64))
        return MetaTensor(torch.from_numpy(np.ascontiguousarray(image))[None], affine=affine, meta=meta)

    def _check(self, path: str, image: np.ndarray) -> None:
        if image.ndim != 2:
            raise CXRLoadError(path, f"expected a 2-D image, found shape {tuple(image.shape)}")
        if min(image.shape) < self.min_size:
            raise CXRLoadError(
                path,
                f"image is {image.shape[0]}x{image.shape[1]} px, smaller than min_size={self.min_size} "
                "(one ViT patch); expected both sides >= min_size",
            )
        if not np.all(np.isfinite(image)):
            raise CXRLoadError(path, f"image has {int((~np.isfinite(image)).sum())} non-finite pixel values")


class LoadCXRd(MapTransform):
    """Dictionary version of :class:`LoadCXR`: replaces each path under ``keys`` by its ``(1, H, W)`` MetaTensor.

    Args:
        keys: keys holding file paths.
        intensity: see :class:`LoadCXR`.
        window: see :class:`LoadCXR`.
        min_size: see :class:`LoadCXR`.
        max_pixels: see :class:`LoadCXR`.
        allow_missing_keys: do not raise if a key is absent.

    Raises:
        CXRLoadError: see :class:`LoadCXR`; the message names the file.

    Example:
        >>> LoadCXRd("image")({"image": "chest.png"})["image"].shape  # doctest: +SKIP
        torch.Size([1, 256, 256])
    """

    def __init__(
        self,
        keys: KeysCollection,
        intensity: str = "bits",
        window: tuple[float, float] | None = None,
        min_size: int = 14,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadCXR(intensity=intensity, window=window, min_size=min_size, max_pixels=max_pixels)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:  # type: ignore[override]
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


LoadCXRD = LoadCXRDict = LoadCXRd

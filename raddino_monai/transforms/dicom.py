"""Read one DICOM radiograph with pydicom into a displayed-orientation ``[0, 1]`` image and de-identified meta.

Order of operations (DICOM PS3.3 C.11 "grayscale pipeline"): stored values -> Modality LUT (RescaleSlope /
RescaleIntercept or Modality LUT Sequence) -> optional VOI LUT (WindowCenter / WindowWidth or VOI LUT Sequence) ->
scale to ``[0, 1]`` -> invert MONOCHROME1, so 0 is always black as displayed.

Only the attributes in :data:`SAFE_ATTRIBUTES` are ever read into meta. Patient identifiers (PatientName,
PatientID, PatientBirthDate, AccessionNumber, InstitutionName, any PN element, ...) are never copied, logged or put
into error messages. Works with pydicom 2.4 and 3.x.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from os import PathLike
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from raddino_monai.transforms.errors import CXRLoadError
from raddino_monai.transforms.limits import DEFAULT_MAX_PIXELS, check_declared_size

try:  # pydicom >= 3
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
except ImportError:  # pydicom 2.4
    from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut

__all__ = ["SAFE_ATTRIBUTES", "DECODER_PACKAGES", "read_dicom", "dicom_meta", "voi_window_unit"]

#: DICOM keyword -> meta key. The allow-list of attributes that may leave this module; nothing else is copied.
SAFE_ATTRIBUTES: dict[str, str] = {
    "Modality": "modality",
    "ViewPosition": "view_position",
    "PhotometricInterpretation": "photometric_interpretation",
    "BitsStored": "bits_stored",
}

#: Transfer Syntax UID -> pip packages that add a decoder for it (pydicom alone decodes uncompressed, deflate, RLE).
DECODER_PACKAGES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "pillow (or: pylibjpeg pylibjpeg-libjpeg)",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": "pylibjpeg pylibjpeg-libjpeg (or: python-gdcm)",  # JPEG Extended (12-bit)
    "1.2.840.10008.1.2.4.57": "pylibjpeg pylibjpeg-libjpeg (or: python-gdcm)",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": "pylibjpeg pylibjpeg-libjpeg (or: python-gdcm)",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": "pylibjpeg pylibjpeg-libjpeg (or: python-gdcm)",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "pylibjpeg pylibjpeg-libjpeg (or: python-gdcm)",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg pylibjpeg-openjpeg (or: python-gdcm)",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg pylibjpeg-openjpeg (or: python-gdcm)",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg pylibjpeg-openjpeg",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": "pylibjpeg pylibjpeg-openjpeg",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": "pylibjpeg pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle (optional: pydicom decodes RLE itself)",  # RLE Lossless
}

# keywords whose values must never appear in a message, in addition to every PN-VR element
_IDENTIFIER_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "OtherPatientIDs", "OtherPatientNames",
    "PatientAddress", "PatientTelephoneNumbers", "AccessionNumber", "InstitutionName", "InstitutionAddress",
    "ReferringPhysicianName", "StudyID", "MedicalRecordLocator", "IssuerOfPatientID",
)


def _redact(text: str, ds: Dataset | None) -> str:
    """Remove every identifier value of ``ds`` from ``text`` (defence in depth for wrapped pydicom messages)."""
    if ds is None:
        return text
    values: list[str] = []
    for elem in ds.iterall():
        if elem.VR == "PN" or elem.keyword in _IDENTIFIER_KEYWORDS:
            raw = elem.value if elem.VM != 1 else [elem.value]
            values.extend(str(v) for v in raw if v is not None and len(str(v)) >= 2)
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "<redacted>")
    return text


def _transfer_syntax(ds: Dataset) -> tuple[str, str]:
    """(UID, readable name) of the file's transfer syntax; ``("", "unknown")`` when the file meta lacks it."""
    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if uid is None:
        return "", "unknown"
    return str(uid), getattr(uid, "name", str(uid))


def _decode(ds: Dataset, path: str) -> np.ndarray:
    """``ds.pixel_array`` with any decoder failure turned into a :class:`CXRLoadError` naming the decoder package."""
    uid, name = _transfer_syntax(ds)
    try:
        return np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises RuntimeError / NotImplementedError / ValueError / plugin errors
        reason = _redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, ds)
        reason = reason.rstrip(":. ")
        hint = DECODER_PACKAGES.get(uid)
        install = f" A decoder for it comes with: pip install {hint}." if hint else ""
        raise CXRLoadError(
            path,
            f"cannot decode DICOM pixel data with transfer syntax '{name}' ({uid or 'no UID'}): {reason}.{install}",
        ) from exc


def _stored_range(ds: Dataset, bits: int) -> tuple[float, float]:
    """Smallest and largest stored value allowed by BitsStored / PixelRepresentation."""
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0**bits - 1


def _modality_range(ds: Dataset, bits: int) -> tuple[float, float]:
    """Output range of the Modality LUT applied to the full stored range (the "full scale" of the image)."""
    lo, hi = _stored_range(ds, bits)
    if "ModalityLUTSequence" in ds and len(ds.ModalityLUTSequence) > 0:
        out = np.asarray(apply_modality_lut(np.arange(lo, hi + 1, dtype=np.int64), ds), dtype=np.float64)
        return float(out.min()), float(out.max())
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    ends = sorted((slope * lo + intercept, slope * hi + intercept))
    return ends[0], ends[1]


def _first(value: Any) -> float:
    """First value of a possibly multi-valued DICOM number (WindowCenter may hold several presets)."""
    if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, (str, bytes))):
        return float(value[0])
    return float(value)


def voi_window_unit(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """DICOM VOI window (PS3.3 C.11.2.1.2) mapped straight to ``[0, 1]``.

    Args:
        values: Modality-LUT output values, any shape.
        center: WindowCenter.
        width: WindowWidth (``>= 1`` for LINEAR, ``> 0`` otherwise).
        function: VOILUTFunction, one of ``"LINEAR"``, ``"LINEAR_EXACT"``, ``"SIGMOID"``.

    Returns:
        float32 array of the same shape in ``[0, 1]``.

    Raises:
        ValueError: unknown ``function`` or an invalid width.

    Example:
        >>> voi_window_unit(np.array([0.0, 50.0, 100.0]), center=50.0, width=101.0).round(2).tolist()
        [0.0, 0.5, 1.0]
    """
    windows: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "LINEAR": lambda x: (x - (center - 0.5)) / (width - 1.0) + 0.5,
        "LINEAR_EXACT": lambda x: (x - center) / width + 0.5,
        "SIGMOID": lambda x: 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width)),
    }
    if function not in windows:
        raise ValueError(f"VOILUTFunction must be one of {sorted(windows)}, got {function!r}")
    if width <= (1.0 if function == "LINEAR" else 0.0):
        raise ValueError(f"WindowWidth must be > {1 if function == 'LINEAR' else 0} for {function}, got {width}")
    return np.clip(windows[function](values.astype(np.float64)), 0.0, 1.0).astype(np.float32)


def _window(ds: Dataset, values: np.ndarray, window: tuple[float, float] | None, path: str) -> np.ndarray:
    """Apply an explicit window, else the file's VOI LUT Sequence or WindowCenter/Width, returning ``[0, 1]``."""
    if window is not None:
        return voi_window_unit(values, float(window[0]), float(window[1]))
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence) > 0:
        out_bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        integral = np.array_equal(values, np.round(values))  # a LUT indexes integers; pydicom warns on floats
        lut_in = np.round(values).astype(np.int64) if integral else values
        lut_out = np.asarray(apply_voi_lut(lut_in, ds, index=0, prefer_lut=True), dtype=np.float64)
        return np.clip(lut_out / (2.0**out_bits - 1.0), 0.0, 1.0).astype(np.float32)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        try:
            return voi_window_unit(values, _first(ds.WindowCenter), _first(ds.WindowWidth), function)
        except ValueError as exc:
            raise CXRLoadError(path, f"invalid VOI window in the file: {exc}") from exc
    raise CXRLoadError(
        path,
        "intensity='window' needs WindowCenter/WindowWidth or a VOI LUT Sequence in the DICOM, or an explicit "
        "window=(center, width); the file has neither",
    )


def dicom_meta(ds: Dataset) -> dict[str, Any]:
    """De-identified meta from the allow-list :data:`SAFE_ATTRIBUTES` plus pixel spacing.

    Args:
        ds: a pydicom dataset.

    Returns:
        dict with ``modality``, ``view_position``, ``photometric_interpretation``, ``bits_stored`` and
        ``pixel_spacing`` (``(row, col)`` mm from PixelSpacing, else ImagerPixelSpacing); ``None`` when absent.
    """
    meta: dict[str, Any] = {}
    for keyword, key in SAFE_ATTRIBUTES.items():
        value = ds.get(keyword, None)
        meta[key] = None if value in (None, "") else (int(value) if keyword == "BitsStored" else str(value))
    meta["pixel_spacing"] = None
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):  # a zero/missing spacing means "unknown"
        spacing = ds.get(keyword, None)
        if spacing is not None and len(spacing) == 2 and float(spacing[0]) > 0 and float(spacing[1]) > 0:
            meta["pixel_spacing"] = (float(spacing[0]), float(spacing[1]))
            break
    return meta


def _read_dataset(path: str) -> Dataset:
    # values over 1 KiB (Pixel Data) are read only when used, i.e. after the declared size was checked
    try:
        return pydicom.dcmread(path, defer_size=1024)
    except InvalidDicomError as exc:
        reason = str(exc).splitlines()[0].split(" Use force=True")[0] if str(exc) else "no DICOM header"
        raise CXRLoadError(path, f"not a valid DICOM file ({reason})") from exc
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CXRLoadError(path, f"DICOM file is truncated or malformed ({type(exc).__name__})") from exc


def _check_pixel_size(ds: Dataset, path: str, max_pixels: int) -> None:
    """Rows x Columns x SamplesPerPixel x NumberOfFrames (x BitsAllocated / 8 bytes) from the header, before decoding:
    against the file size for uncompressed transfer syntaxes, and against ``max_pixels`` for all."""
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise CXRLoadError(path, f"DICOM header declares Rows={rows}, Columns={cols}; expected both > 0")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.get("BitsAllocated", 0) or 0) or 16
    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    compressed = bool(getattr(uid, "is_compressed", False)) if uid is not None else False
    shape = (frames, rows, cols, samples) if frames > 1 or samples > 1 else (rows, cols)
    needed = (rows * cols * samples * frames * bits + 7) // 8
    check_declared_size(path, shape, max_pixels, f"{'compressed' if compressed else 'uncompressed'} {bits}-bit DICOM "
                        "image", needed_bytes=None if compressed else needed,
                        file_bytes=None if compressed else os.path.getsize(path))


def _to_grey(ds: Dataset, pixels: np.ndarray, path: str) -> np.ndarray:
    """(H, W) stored values; RGB DICOMs become ITU-R 601 luma; multi-frame files are rejected."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if frames > 1:
        raise CXRLoadError(path, f"expected a single 2-D image, found a multi-frame DICOM with {frames} frames")
    if samples == 3 and pixels.ndim == 3 and pixels.shape[-1] == 3:
        return pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if pixels.ndim != 2:
        raise CXRLoadError(path, f"expected a 2-D greyscale image, found pixel array of shape {tuple(pixels.shape)}")
    return pixels


def read_dicom(
    path: str | PathLike[str],
    intensity: str = "bits",
    window: tuple[float, float] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a DICOM radiograph as a displayed-orientation ``(H, W)`` float32 image in ``[0, 1]``.

    Args:
        path: DICOM file.
        intensity: ``"bits"`` (Modality-LUT output divided by the full scale of BitsStored, i.e.
            ``2**BitsStored - 1`` for the usual slope 1 / intercept 0), ``"minmax"`` (image min -> 0, max -> 1; a
            constant image gives all zeros) or ``"window"`` (VOI LUT: ``window`` if given, else the file's VOI LUT
            Sequence or WindowCenter/WindowWidth).
        window: explicit ``(center, width)`` in Modality-LUT units, used by ``intensity="window"``.
        max_pixels: cap on Rows x Columns x frames declared by the header, checked before the pixel data are read;
            uncompressed files must also hold the bytes their header declares (header-bomb guard).

    Returns:
        ``(image, meta)``: image float32 ``(H, W)`` with 0 = black as displayed (MONOCHROME1 inverted); meta from
        :func:`dicom_meta`.

    Raises:
        CXRLoadError: not a DICOM, no pixel data, a declared size over ``max_pixels`` or larger than the file,
            undecodable transfer syntax (names the pip package), multi-frame, unknown ``intensity``, or no window
            for ``"window"``.

    Example:
        >>> image, meta = read_dicom("chest.dcm")  # doctest: +SKIP
        >>> image.shape, meta["photometric_interpretation"]  # doctest: +SKIP
        ((1024, 1024), 'MONOCHROME2')
    """
    path = str(path)
    ds = _read_dataset(path)
    if "PixelData" not in ds:
        raise CXRLoadError(path, "DICOM has no Pixel Data element (7FE0,0010); expected an image")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2").upper()
    bits = int(ds.get("BitsStored", 0) or ds.get("BitsAllocated", 0) or 16)
    _check_pixel_size(ds, path, max_pixels)
    stored = _to_grey(ds, _decode(ds, path), path)
    monochrome = photometric.startswith("MONOCHROME")
    # the Modality LUT applies to greyscale images only (PS3.3 C.11.1); colour images keep their stored values
    values = np.asarray(apply_modality_lut(stored, ds) if monochrome else stored, dtype=np.float64)

    def by_bits() -> np.ndarray:
        lo, hi = _modality_range(ds, bits) if monochrome else (0.0, 2.0**bits - 1)
        return np.clip((values - lo) / max(hi - lo, 1e-12), 0.0, 1.0).astype(np.float32)

    def by_minmax() -> np.ndarray:
        lo, hi = float(values.min()), float(values.max())
        return ((values - lo) / (hi - lo)).astype(np.float32) if hi > lo else np.zeros(values.shape, np.float32)

    modes: dict[str, Callable[[], np.ndarray]] = {
        "bits": by_bits,
        "minmax": by_minmax,
        "window": lambda: _window(ds, values, window, path),
    }
    if intensity not in modes:
        raise CXRLoadError(path, f"intensity must be one of {sorted(modes)}, got {intensity!r}")
    image = modes[intensity]()
    if photometric == "MONOCHROME1":
        image = 1.0 - image
    return image.astype(np.float32), dicom_meta(ds)

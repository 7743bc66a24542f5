"""Deterministic synthetic chest radiographs with exact lung and heart masks, for tests and demos.

The picture is a cartoon PA chest X-ray in displayed orientation (patient's left on the image right): a bright
soft-tissue thorax on a dark background, two dark lung fields crossed by bright rib arcs, a bright heart shadow
overlapping the lower medial lungs, a spine, an optional basal opacity and mild noise. The masks are the exact
geometric regions used to draw it (lungs exclude the heart and spine). Nothing here is a model of real anatomy.

:func:`write_synthetic_dataset` writes a small PNG dataset with a datalist JSON in the format of
``docs/architecture.md``; :func:`write_synthetic_dicom` writes an uncompressed DICOM with configurable
BitsStored / photometric / rescale / window / spacing and fake patient identifiers (to test de-identification).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

__all__ = [
    "MASK_LABELS",
    "FAKE_IDENTIFIERS",
    "SyntheticCXRAttributes",
    "make_synthetic_cxr",
    "write_synthetic_dataset",
    "write_synthetic_dicom",
]

#: label values of the combined mask PNG written by :func:`write_synthetic_dataset`
MASK_LABELS: dict[str, int] = {"right_lung": 1, "left_lung": 2, "heart": 3}

#: fake identifiers put into synthetic DICOMs; none of these strings may ever reach meta, logs or errors
FAKE_IDENTIFIERS: dict[str, str] = {
    "PatientName": "Doe^Jane^Q",
    "PatientID": "PID-8675309",
    "PatientBirthDate": "19510423",
    "AccessionNumber": "ACC-424242",
    "InstitutionName": "Springfield General Hospital",
    "ReferringPhysicianName": "Hibbert^Julius",
    "OtherPatientIDs": "OPID-13579",
}


@dataclass(frozen=True)
class SyntheticCXRAttributes:
    """Controllable attributes of a synthetic radiograph.

    Args:
        sex: ``"M"`` (wider thorax) or ``"F"`` (narrower thorax, breast shadows over the lung bases).
        heart_size: heart width relative to the default (cardiothoracic ratio ~0.45 at 1.0).
        lung_opacity: 0 (clear) to 1 (dense) basal opacity in the right lung (image left).
        rib_contrast: brightness of the rib arcs.
        noise: std of the additive Gaussian noise.
    """

    sex: str = "M"
    heart_size: float = 1.0
    lung_opacity: float = 0.0
    rib_contrast: float = 0.08
    noise: float = 0.01


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def make_synthetic_cxr(
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    sex: str = "M",
    heart_size: float = 1.0,
    lung_opacity: float = 0.0,
    rib_contrast: float = 0.08,
    noise: float = 0.01,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw a deterministic synthetic PA chest radiograph.

    Args:
        size: ``(H, W)`` in pixels (both >= 16).
        seed: seed of the small random jitter of anatomy and of the noise; same seed -> same image.
        sex: ``"M"`` or ``"F"``.
        heart_size: heart width factor (> 0).
        lung_opacity: basal opacity in ``[0, 1]`` in the right lung (image left).
        rib_contrast: rib brightness (>= 0).
        noise: Gaussian noise std (>= 0).

    Returns:
        ``(image, masks)``: image float32 ``(H, W)`` in ``[0, 1]`` (0 = black); masks ``{"left_lung",
        "right_lung", "heart"}`` bool ``(H, W)``; the patient's left lung is on the image right.

    Raises:
        ValueError: invalid size, sex or attribute range.

    Example:
        >>> image, masks = make_synthetic_cxr((64, 48), seed=1)
        >>> image.shape, image.dtype, sorted(masks)
        ((64, 48), dtype('float32'), ['heart', 'left_lung', 'right_lung'])
    """
    h, w = int(size[0]), int(size[1])
    sexes = {"M": 1.0, "F": 0.92}
    if h < 16 or w < 16:
        raise ValueError(f"make_synthetic_cxr: size must be >= (16, 16), got {tuple(size)}")
    if sex not in sexes:
        raise ValueError(f"make_synthetic_cxr: sex must be one of {sorted(sexes)}, got {sex!r}")
    if heart_size <= 0 or not 0.0 <= lung_opacity <= 1.0 or rib_contrast < 0 or noise < 0:
        raise ValueError(
            "make_synthetic_cxr: expected heart_size > 0, 0 <= lung_opacity <= 1, rib_contrast >= 0, noise >= 0; got "
            f"{heart_size}, {lung_opacity}, {rib_contrast}, {noise}"
        )
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.02, 0.02, size=6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy, xx = yy / h, xx / w  # normalised coordinates, so anatomy scales with the image

    width = 0.40 * sexes[sex]
    thorax = _ellipse(yy, xx, 0.58, 0.5, 0.50, width + 0.04)
    lung_r = _ellipse(yy, xx, 0.50 + jitter[0], 0.5 - 0.17 * sexes[sex] + jitter[1], 0.30, 0.13 * sexes[sex])
    lung_l = _ellipse(yy, xx, 0.50 + jitter[2], 0.5 + 0.17 * sexes[sex] + jitter[3], 0.29, 0.12 * sexes[sex])
    heart = _ellipse(yy, xx, 0.68 + jitter[4], 0.56 + jitter[5], 0.12, 0.14 * heart_size * sexes[sex])

    spine = (np.abs(xx - 0.5) < 0.035) & thorax & ~heart
    lung_r, lung_l = lung_r & ~heart & ~spine, lung_l & ~heart & ~spine  # lungs never overlap heart or spine

    image = np.full((h, w), 0.05)
    image[thorax] = 0.55
    lungs = lung_r | lung_l
    image[lungs] = 0.22
    ribs = (np.sin((yy - 0.25 * (xx - 0.5) ** 2 * 4.0) * 2 * np.pi * 9.0) > 0.75) & lungs
    image[ribs] += rib_contrast
    image[heart] = 0.78
    image[spine] = 0.70
    if sex == "F":
        breasts = (_ellipse(yy, xx, 0.80, 0.30, 0.10, 0.13) | _ellipse(yy, xx, 0.80, 0.70, 0.10, 0.13)) & thorax
        image[breasts] += 0.08
    if lung_opacity > 0:
        basal = lung_r & (yy > 0.55)
        image[basal] += 0.45 * lung_opacity * np.clip((yy[basal] - 0.55) / 0.2, 0.0, 1.0)
    image += rng.normal(0.0, noise, size=(h, w)) if noise > 0 else 0.0
    masks = {"right_lung": lung_r, "left_lung": lung_l, "heart": heart}
    return np.clip(image, 0.0, 1.0).astype(np.float32), masks


def write_synthetic_dataset(
    root: str | PathLike[str],
    n: int = 12,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    splits: Sequence[str] = ("training", "validation", "test"),
) -> Path:
    """Write ``n`` synthetic radiographs (8-bit PNG), label-map masks and ``datalist.json``.

    Each image is its own patient. Items: ``image`` and ``mask`` (relative paths; mask values in
    :data:`MASK_LABELS`, 0 = background), ``label`` (1 if it has a basal opacity, else 0), ``patient_id``, ``sex``,
    ``age``, ``view`` (``"PA"``). Items are dealt round-robin into ``splits``.

    Args:
        root: output folder (created).
        n: number of images (>= 1).
        size: ``(H, W)``.
        seed: base seed; image ``i`` uses ``seed + i``.
        splits: datalist sections to fill.

    Returns:
        path of ``datalist.json``.

    Example:
        >>> path = write_synthetic_dataset("/tmp/synth", n=3)  # doctest: +SKIP
    """
    from PIL import Image

    if n < 1 or not splits:
        raise ValueError(f"write_synthetic_dataset: need n >= 1 and at least one split, got n={n}, splits={splits}")
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    datalist: dict[str, list[dict[str, Any]]] = {name: [] for name in splits}
    for i in range(n):
        sex = ("M", "F")[i % 2]
        opacity = float(rng.uniform(0.5, 1.0)) if i % 3 == 0 else 0.0
        image, masks = make_synthetic_cxr(size, seed=seed + i, sex=sex, lung_opacity=opacity)
        label_map = np.zeros(image.shape, np.uint8)
        for name, value in MASK_LABELS.items():
            label_map[masks[name]] = value
        stem = f"synth_{i:04d}"
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(root / "images" / f"{stem}.png")
        Image.fromarray(label_map).save(root / "masks" / f"{stem}.png")
        datalist[splits[i % len(splits)]].append(
            {
                "image": f"images/{stem}.png",
                "mask": f"masks/{stem}.png",
                "label": int(opacity > 0),
                "patient_id": f"P{i:04d}",
                "sex": sex,
                "age": int(rng.integers(20, 90)),
                "view": "PA",
            }
        )
    path = root / "datalist.json"
    path.write_text(json.dumps(datalist, indent=2))
    return path


def _save(ds: FileDataset, path: Path) -> None:
    """Write a little-endian explicit-VR file with pydicom 2.4 or 3.x."""
    if int(pydicom.__version__.split(".")[0]) < 3:
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(str(path), write_like_original=False)
    else:
        ds.save_as(str(path), enforce_file_format=True)


def write_synthetic_dicom(
    path: str | PathLike[str],
    image: np.ndarray | None = None,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    bits_stored: int = 12,
    photometric: str = "MONOCHROME2",
    rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    pixel_spacing: tuple[float, float] | None = (0.2, 0.2),
    imager_pixel_spacing: tuple[float, float] | None = None,
    view_position: str = "PA",
    identifiers: bool = True,
    with_pixel_data: bool = True,
) -> Path:
    """Write an uncompressed synthetic DICOM (CR, explicit VR little endian) whose *displayed* image is ``image``.

    Stored values are ``round(v * (2**bits_stored - 1))`` for MONOCHROME2 and ``round((1 - v) * ...)`` for
    MONOCHROME1, so a correct loader in ``"bits"`` mode returns ``image`` within one stored grey level.

    Args:
        path: output file.
        image: displayed image ``(H, W)`` in ``[0, 1]``; ``None`` draws :func:`make_synthetic_cxr` ``(size, seed)``.
        size: used when ``image`` is ``None``.
        seed: used when ``image`` is ``None``.
        bits_stored: 1..16 (BitsAllocated 8 if <= 8, else 16).
        photometric: ``"MONOCHROME1"`` or ``"MONOCHROME2"``.
        rescale: ``(RescaleSlope, RescaleIntercept)`` to write, or ``None`` for none.
        window: ``(WindowCenter, WindowWidth)`` to write, or ``None``.
        pixel_spacing: PixelSpacing (row, col) mm or ``None``.
        imager_pixel_spacing: ImagerPixelSpacing or ``None``.
        view_position: ViewPosition.
        identifiers: write the fake identifiers of :data:`FAKE_IDENTIFIERS` (plus PatientSex/Age).
        with_pixel_data: ``False`` writes a header-only DICOM (for error tests).

    Returns:
        ``Path(path)``.

    Example:
        >>> write_synthetic_dicom("/tmp/a.dcm", bits_stored=15, photometric="MONOCHROME1")  # doctest: +SKIP
    """
    photometrics = {"MONOCHROME1": True, "MONOCHROME2": False}
    if photometric not in photometrics:
        raise ValueError(
            f"write_synthetic_dicom: photometric must be one of {sorted(photometrics)}, got {photometric!r}"
        )
    if not 1 <= bits_stored <= 16:
        raise ValueError(f"write_synthetic_dicom: bits_stored must be in 1..16, got {bits_stored}")
    path = Path(path)
    displayed = make_synthetic_cxr(size, seed=seed)[0] if image is None else np.clip(np.asarray(image), 0.0, 1.0)
    values = 1.0 - displayed if photometrics[photometric] else displayed
    allocated = 8 if bits_stored <= 8 else 16
    stored = np.round(values * (2**bits_stored - 1)).astype(np.uint8 if allocated == 8 else np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.ViewPosition, ds.BodyPartExamined = "CR", view_position, "CHEST"
    if identifiers:
        for keyword, value in FAKE_IDENTIFIERS.items():
            setattr(ds, keyword, value)
        ds.PatientSex, ds.PatientAge = "F", "073Y"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.Rows, ds.Columns = int(stored.shape[0]), int(stored.shape[1])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = allocated, bits_stored, bits_stored - 1, 0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = f"{rescale[0]:g}", f"{rescale[1]:g}"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    if pixel_spacing is not None:
        ds.PixelSpacing = [f"{pixel_spacing[0]:g}", f"{pixel_spacing[1]:g}"]
    if imager_pixel_spacing is not None:
        ds.ImagerPixelSpacing = [f"{imager_pixel_spacing[0]:g}", f"{imager_pixel_spacing[1]:g}"]
    if with_pixel_data:
        ds.PixelData = stored.tobytes()
    _save(ds, path)
    return path

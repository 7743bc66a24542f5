"""Segmentation masks as MONAI transforms: loading (PNG / NIfTI, displayed orientation) and writing (PNG, NIfTI,
overlay PNG).

Mask conventions (:data:`MASK_MODES`):

* ``"multiclass"``: one label-map file per image -> ``(1, H, W)`` class indices (softmax heads). ``values`` maps
  pixel values to classes (``values[i]`` -> class ``i``); by default a {0, 255} file becomes {0, 1} and any other
  file is read as indices.
* ``"multilabel"``: one binary file per structure (a path or a list of paths) -> ``(C, H, W)`` in {0, 1}
  (sigmoid heads; structures may overlap). Non-zero pixels are foreground.

Arrays are row-major as displayed (the ``LoadCXR`` convention of docs/architecture.md), so masks line up with
images and with the ViT patch grid.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from PIL import Image

from raddino_monai.transforms.errors import CXRLoadError
from raddino_monai.transforms.output_names import OutputNameRegistry, output_name

__all__ = ["MASK_MODES", "read_mask_file", "LoadMask", "LoadMaskd", "write_mask_png", "write_mask_nifti",
           "write_overlay_png", "SaveMaskd"]

MASK_MODES: tuple[str, ...] = ("multiclass", "multilabel")

#: colours of structures 1.. in overlays (RGB); index 0 (background) is never drawn.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
)


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L") if img.mode not in ("L", "I", "I;16", "P") else img).astype(np.int64)


def _read_nifti(path: Path) -> np.ndarray:
    import nibabel as nib

    arr = np.asarray(nib.load(str(path)).dataobj).squeeze()
    return np.rint(arr.T).astype(np.int64)  # NIfTI axis 0 = columns (as LoadCXR): transpose to (rows, cols)


_READERS: dict[str, Callable[[Path], np.ndarray]] = {".png": _read_png, ".nii": _read_nifti, ".nii.gz": _read_nifti}


def read_mask_file(path: str | Path) -> np.ndarray:
    """Read one 2-D mask file as ``(H, W)`` int64 (displayed orientation).

    Raises:
        ValueError: unsupported suffix (lists the valid ones).
        CXRLoadError: (a ``ValueError``) missing, unreadable or not 2-D; the message names the file, and datasets
            can skip and count it as a bad file (:mod:`raddino_monai.data.bad_files`).
    """
    file = Path(path)
    suffix = ".nii.gz" if file.name.lower().endswith(".nii.gz") else file.suffix.lower()
    if suffix not in _READERS:
        raise ValueError(f"{file}: unsupported mask format {suffix!r}; valid: {sorted(_READERS)}.")
    if not file.is_file():
        raise CXRLoadError(file, "mask file does not exist.")
    try:
        arr = _READERS[suffix](file)
    except (OSError, ValueError, EOFError) as err:
        raise CXRLoadError(file, f"mask file is truncated or corrupt ({type(err).__name__}: {err})") from err
    if arr.ndim != 2:
        raise CXRLoadError(file, f"expected a 2-D mask, found shape {arr.shape}.")
    return arr


class LoadMask(Transform):
    """Load a mask (see module docstring) as a float tensor.

    Args:
        mode: one of :data:`MASK_MODES`.
        values: multiclass only: pixel value of each class (``values[i]`` -> class ``i``).

    Raises:
        ValueError: unknown mode; at call time, a pixel value not in ``values``, or structure files of different
            sizes (naming the file).

    Example::

        >>> LoadMask("multilabel")(["left.png", "right.png"]).shape  # doctest: +SKIP
        torch.Size([2, 256, 256])
    """

    def __init__(self, mode: str = "multiclass", values: Sequence[int] | None = None) -> None:
        if mode not in MASK_MODES:
            raise ValueError(f"Unknown mask mode {mode!r}; valid values: {list(MASK_MODES)}.")
        self.mode = mode
        self.values = None if values is None else [int(v) for v in values]

    def _multiclass(self, path: str | Path) -> np.ndarray:
        arr = read_mask_file(path)
        values = self.values
        if values is None:
            present = set(np.unique(arr).tolist())
            values = [0, 255] if present <= {0, 255} else None
        if values is None:
            return arr[None]
        lut = {v: i for i, v in enumerate(values)}
        unknown = sorted(set(np.unique(arr).tolist()) - set(lut))
        if unknown:
            raise ValueError(f"{path}: pixel values {unknown[:10]} are not in the class values {values}.")
        out = np.zeros_like(arr)
        for v, i in lut.items():
            out[arr == v] = i
        return out[None]

    def _multilabel(self, paths: str | Path | Sequence[str | Path]) -> np.ndarray:
        files = [paths] if isinstance(paths, (str, Path)) else list(paths)
        channels = [(read_mask_file(f) > 0).astype(np.int64) for f in files]
        shapes = {c.shape for c in channels}
        if len(shapes) != 1:
            raise ValueError(f"structure masks {files} have different sizes {sorted(shapes)}.")
        return np.stack(channels)

    def __call__(self, path: Any) -> torch.Tensor:  # type: ignore[override]
        """Return ``(1, H, W)`` (multiclass) or ``(C, H, W)`` (multilabel) float32."""
        readers = {"multiclass": self._multiclass, "multilabel": self._multilabel}
        return torch.as_tensor(readers[self.mode](path), dtype=torch.float32)


class LoadMaskd(MapTransform):
    """Dictionary version of :class:`LoadMask` (same arguments plus ``keys``, ``allow_missing_keys``)."""

    def __init__(
        self,
        keys: KeysCollection = "mask",
        mode: str = "multiclass",
        values: Sequence[int] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadMask(mode, values)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:  # type: ignore[override]
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


def write_mask_png(mask: np.ndarray, path: str | Path) -> Path:
    """Write a ``(H, W)`` mask as 8-bit PNG: binary masks as 0/255, label maps with > 2 classes as indices.

    Returns:
        the written path.
    """
    mask = np.asarray(mask)
    out = (mask > 0).astype(np.uint8) * 255 if mask.max(initial=0) <= 1 else mask.clip(0, 255).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out).save(path)
    return Path(path)


def write_mask_nifti(mask: np.ndarray, path: str | Path) -> Path:
    """Write a ``(H, W)`` or ``(C, H, W)`` mask as uint8 NIfTI (axis 0 = columns, the convention ``LoadCXR`` reads)."""
    import nibabel as nib

    mask = np.asarray(mask).astype(np.uint8)
    data = mask.T if mask.ndim == 2 else np.transpose(mask, (2, 1, 0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return Path(path)


def write_overlay_png(image: np.ndarray, masks: np.ndarray, path: str | Path, alpha: float = 0.4) -> Path:
    """Blend binary structure masks over a grey image and save an RGB PNG.

    Args:
        image: ``(H, W)`` grey image in [0, 1].
        masks: ``(C, H, W)`` binary masks (one colour each, :data:`PALETTE`).
        path: output PNG.
        alpha: mask opacity.

    Returns:
        the written path.
    """
    grey = (np.clip(np.asarray(image, dtype=np.float64), 0, 1) * 255)[..., None].repeat(3, axis=-1)
    for c, m in enumerate(np.asarray(masks) > 0):
        colour = np.asarray(PALETTE[c % len(PALETTE)], dtype=np.float64)
        grey[m] = (1 - alpha) * grey[m] + alpha * colour
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grey.round().astype(np.uint8)).save(path)
    return Path(path)


_WRITERS: dict[str, tuple[str, Callable[[np.ndarray, str | Path], Path]]] = {
    "png": (".png", write_mask_png),
    "nifti": (".nii.gz", write_mask_nifti),
}


class SaveMaskd(MapTransform):
    """Write a predicted ``(1, H, W)`` label map or ``(C, H, W)`` multi-hot mask into ``output_dir``.

    The file is named after ``meta["filename_or_obj"]`` of the tensor (or of ``image``) by
    :func:`raddino_monai.transforms.output_name`: its path relative to ``data_root_dir`` (sub-folders kept; the file
    name alone when outside it or when ``data_root_dir`` is None) without the image suffix, then ``_<output_postfix>``.
    A second, different source that would get a name already written by this transform raises instead of
    overwriting it. Multi-hot masks with C > 1 are written one file per channel (``_<channel>`` suffix) for PNG.

    Args:
        keys: prediction keys.
        output_dir: folder to write into.
        output_format: ``"png"`` or ``"nifti"``.
        output_postfix: appended to the file stem.
        meta_key: key whose tensor's meta names the source file (default ``"image"``).
        data_root_dir: mirror source paths relative to this folder (as MONAI ``SaveImage(data_root_dir=...)``).

    Raises:
        ValueError: unknown output format; at call time (``OutputNameError``) an output-name collision.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        output_dir: str | Path = "./eval",
        output_format: str = "png",
        output_postfix: str = "seg",
        meta_key: str = "image",
        allow_missing_keys: bool = False,
        data_root_dir: str | Path | None = None,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if output_format not in _WRITERS:
            raise ValueError(f"Unknown output_format {output_format!r}; valid values: {sorted(_WRITERS)}.")
        self.output_dir, self.output_format = Path(output_dir), output_format
        self.output_postfix, self.meta_key = output_postfix, meta_key
        self.data_root_dir = data_root_dir
        self.names = OutputNameRegistry()

    def _stem(self, d: Mapping[Hashable, Any], key: Hashable) -> str:
        for source in (d[key], d.get(self.meta_key)):
            name = getattr(source, "meta", {}).get("filename_or_obj") if source is not None else None
            if name:
                return self.names.require(output_name(str(name), self.data_root_dir), str(name))
        return self.names.require("image", "<no filename_or_obj>")

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:  # type: ignore[override]
        d = dict(data)
        suffix, writer = _WRITERS[self.output_format]
        for key in self.key_iterator(d):
            arr = np.asarray(torch.as_tensor(d[key]).detach().cpu()).astype(np.int64)
            stem = f"{self._stem(d, key)}_{self.output_postfix}"
            if arr.shape[0] == 1 or self.output_format == "nifti":
                writer(arr[0] if arr.shape[0] == 1 else arr, self.output_dir / f"{stem}{suffix}")
            else:
                for c in range(arr.shape[0]):
                    writer(arr[c], self.output_dir / f"{stem}_{c}{suffix}")
        return d

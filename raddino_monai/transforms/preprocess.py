"""RAD-DINO input preprocessing as MONAI transforms: shortest-edge resize, square fit, normalisation.

``raddino_preprocessing(fit="crop")`` is microsoft/rad-dino's ``BitImageProcessor`` ([HF] preprocessor_config.json):
bicubic resize of the shortest edge to 518, 518x518 centre crop, rescale to [0, 1], normalise with mean 0.5307 /
std 0.2583 and repeat the grey channel to RGB. It works on ``LoadCXR`` output (``(1, H, W)`` float32 in ``[0, 1]``)
and gives ``(3, 518, 518)`` float32. Two resize backends (:data:`RESIZE_BACKENDS`, default
``RADDINO_PREPROCESS.resize_backend``):

* ``"pil"`` (default): :class:`~raddino_monai.transforms.pil_preprocess.PILPreprocessd`, the processor bit for bit
  (uint8 PIL resize, as ``use_fast=False``);
* ``"torch"``: :class:`ResizeShortestEdge` / :class:`FitToSquare` on floats (antialiased bicubic, PIL's kernel,
  no uint8 rounding, one clamp at the end) + MONAI crop / normalisation; invertible with ``Invertd``. It is *not*
  the processor: on the sample PNGs at 518 px it differs by up to 18 grey levels next to sharp edges (see
  :class:`RadDinoPreprocessConfig`).

``fit="pad"`` / ``"resize"`` keep the whole image (the centre crop drops the long-axis edges of non-square
radiographs).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import (
    CenterSpatialCrop,
    CenterSpatialCropd,
    Compose,
    EnsureType,
    EnsureTyped,
    MapTransform,
    NormalizeIntensity,
    NormalizeIntensityd,
    RepeatChannel,
    RepeatChanneld,
    Transform,
)

from raddino_monai.transforms.pil_preprocess import PILPreprocess, PILPreprocessd
from raddino_monai.transforms.preprocess_config import (
    RADDINO_PREPROCESS,
    RESIZE_BACKENDS,
    RadDinoPreprocessConfig,
    shortest_edge_size,
)

__all__ = [
    "RESIZE_BACKENDS",
    "RadDinoPreprocessConfig",
    "RADDINO_PREPROCESS",
    "FIT_MODES",
    "shortest_edge_size",
    "ResizeShortestEdge",
    "ResizeShortestEdged",
    "FitToSquare",
    "FitToSquared",
    "raddino_preprocessing",
    "raddino_preprocessing_array",
]


def _resize(img: torch.Tensor, out_hw: tuple[int, int], clip: tuple[float, float] | None) -> torch.Tensor:
    """Bicubic antialiased resize of ``(C, H, W)`` (PIL-like: Keys a=-0.5 kernel widened when downsampling).

    A ``MetaTensor`` keeps its meta; its 2-D affine is rescaled so that pixel centres stay in place.
    """
    in_hw = tuple(int(s) for s in img.shape[-2:])
    data = img.as_tensor() if isinstance(img, MetaTensor) else img
    if data.ndim != 3:
        raise ValueError(f"expected a channel-first 2-D image (C, H, W), got shape {tuple(data.shape)}")
    out = data if in_hw == out_hw else F.interpolate(
        data[None].float(), size=out_hw, mode="bicubic", align_corners=False, antialias=True
    )[0]
    if clip is not None:
        out = out.clamp(clip[0], clip[1])
    if not isinstance(img, MetaTensor):
        return out
    result = MetaTensor(out)
    result.copy_meta_from(img)
    if img.affine.shape[0] == 3 and in_hw != out_hw:
        scale = torch.tensor([in_hw[0] / out_hw[0], in_hw[1] / out_hw[1]], dtype=torch.float64)
        step = torch.eye(3, dtype=torch.float64)
        step[0, 0], step[1, 1] = scale[0], scale[1]
        step[:2, 2] = (scale - 1.0) / 2.0
        result.affine = img.affine.to(torch.float64) @ step
    return result


class ResizeShortestEdge(Transform):
    """Resize ``(C, H, W)`` so the shorter side is ``size``, keeping the aspect ratio (bicubic, antialiased).

    This is PIL's bicubic kernel applied to floats: no uint8 rounding and one clamp at the end, where PIL (and
    rad-dino's ``BitImageProcessor``, ``use_fast=False``) rounds and clips each pass to uint8. The two agree to
    about 1 grey level on smooth images, but differ by up to 18 levels next to burnt-in text and borders (sample
    PNGs at 518 px); :class:`~raddino_monai.transforms.pil_preprocess.PILPreprocess` is the exact one.

    Args:
        size: target length of the shorter side ([HF] 518).
        clip: clamp the bicubic overshoot to this range (default ``(0, 1)``, the loader's range; PIL clamps to
            ``[0, 255]`` likewise); ``None`` keeps it.

    Example:
        >>> ResizeShortestEdge(518)(torch.rand(1, 600, 400)).shape
        torch.Size([1, 777, 518])
    """

    def __init__(self, size: int = RADDINO_PREPROCESS.size, clip: tuple[float, float] | None = (0.0, 1.0)) -> None:
        if int(size) < 1:
            raise ValueError(f"ResizeShortestEdge: size must be >= 1, got {size}")
        self.size = int(size)
        self.clip = clip

    def __call__(self, img: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Args: img: ``(C, H, W)``. Returns: ``(C, H', W')`` with ``min(H', W') == size``."""
        return _resize(img, shortest_edge_size(tuple(img.shape[-2:]), self.size), self.clip)


class FitToSquare(Transform):
    """Make ``(C, H, W)`` a ``size x size`` image while keeping the whole field of view.

    Args:
        size: output side.
        mode: ``"pad"``: resize the longer side to ``size`` (aspect kept, bicubic antialiased) and pad the shorter
            side symmetrically (the extra pixel of an odd padding goes to the bottom/right); ``"resize"``: stretch
            to ``size x size``.
        pad_value: padding value; ``None`` uses the image minimum (black for a ``[0, 1]`` radiograph).
        clip: see :class:`ResizeShortestEdge`.

    Example:
        >>> FitToSquare(518, mode="pad")(torch.rand(1, 600, 400)).shape
        torch.Size([1, 518, 518])
    """

    modes = ("pad", "resize")

    def __init__(
        self,
        size: int = RADDINO_PREPROCESS.size,
        mode: str = "pad",
        pad_value: float | None = None,
        clip: tuple[float, float] | None = (0.0, 1.0),
    ) -> None:
        if mode not in self.modes:
            raise ValueError(f"FitToSquare: mode must be one of {list(self.modes)}, got {mode!r}")
        if int(size) < 1:
            raise ValueError(f"FitToSquare: size must be >= 1, got {size}")
        self.size, self.mode, self.pad_value, self.clip = int(size), mode, pad_value, clip

    def __call__(self, img: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Args: img: ``(C, H, W)``. Returns: ``(C, size, size)``."""
        fits: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"pad": self._pad, "resize": self._stretch}
        return fits[self.mode](img)

    def _stretch(self, img: torch.Tensor) -> torch.Tensor:
        return _resize(img, (self.size, self.size), self.clip)

    def _pad(self, img: torch.Tensor) -> torch.Tensor:
        h, w = (int(s) for s in img.shape[-2:])
        long = max(h, w)
        out_hw = (max(1, round(h * self.size / long)), max(1, round(w * self.size / long)))
        resized = _resize(img, out_hw, self.clip)
        value = float(resized.min()) if self.pad_value is None else float(self.pad_value)
        dh, dw = self.size - out_hw[0], self.size - out_hw[1]
        padded = F.pad(
            resized.as_tensor() if isinstance(resized, MetaTensor) else resized,
            (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2),
            value=value,
        )
        if not isinstance(resized, MetaTensor):
            return padded
        result = MetaTensor(padded)
        result.copy_meta_from(resized)
        if resized.affine.shape[0] == 3:
            shift = torch.eye(3, dtype=torch.float64)
            shift[:2, 2] = torch.tensor([-(dh // 2), -(dw // 2)], dtype=torch.float64)
            result.affine = resized.affine.to(torch.float64) @ shift
        return result


class ResizeShortestEdged(MapTransform):
    """Dictionary version of :class:`ResizeShortestEdge` (same arguments plus ``keys``, ``allow_missing_keys``)."""

    def __init__(
        self,
        keys: KeysCollection,
        size: int = RADDINO_PREPROCESS.size,
        clip: tuple[float, float] | None = (0.0, 1.0),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.resizer = ResizeShortestEdge(size, clip)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:  # type: ignore[override]
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.resizer(d[key])
        return d


class FitToSquared(MapTransform):
    """Dictionary version of :class:`FitToSquare` (same arguments plus ``keys``, ``allow_missing_keys``)."""

    def __init__(
        self,
        keys: KeysCollection,
        size: int = RADDINO_PREPROCESS.size,
        mode: str = "pad",
        pad_value: float | None = None,
        clip: tuple[float, float] | None = (0.0, 1.0),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.fitter = FitToSquare(size, mode, pad_value, clip)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:  # type: ignore[override]
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.fitter(d[key])
        return d


ResizeShortestEdgeD = ResizeShortestEdgeDict = ResizeShortestEdged
FitToSquareD = FitToSquareDict = FitToSquared

# fit mode -> spatial steps of the "torch" backend, for one image (array) and for a dict (keys)
_ARRAY_FITS: dict[str, Callable[[int], list[Callable]]] = {
    "crop": lambda s: [ResizeShortestEdge(s), CenterSpatialCrop(roi_size=(s, s))],
    "pad": lambda s: [FitToSquare(s, mode="pad")],
    "resize": lambda s: [FitToSquare(s, mode="resize")],
}
_DICT_FITS: dict[str, Callable[[KeysCollection, int], list[Callable]]] = {
    "crop": lambda k, s: [ResizeShortestEdged(k, s), CenterSpatialCropd(k, roi_size=(s, s))],
    "pad": lambda k, s: [FitToSquared(k, s, mode="pad")],
    "resize": lambda k, s: [FitToSquared(k, s, mode="resize")],
}
#: accepted values of ``fit``
FIT_MODES = tuple(_ARRAY_FITS)


def _torch_dict(keys: KeysCollection, size: int, fit: str, mean: float, std: float, channels: int) -> list[Callable]:
    return [
        *_DICT_FITS[fit](keys, size),
        NormalizeIntensityd(keys, subtrahend=mean, divisor=std),
        RepeatChanneld(keys, repeats=channels),
        EnsureTyped(keys, dtype=torch.float32),
    ]


def _pil_dict(keys: KeysCollection, size: int, fit: str, mean: float, std: float, channels: int) -> list[Callable]:
    return [PILPreprocessd(keys, size, fit, mean, std, channels), EnsureTyped(keys, dtype=torch.float32)]


def _torch_array(size: int, fit: str, mean: float, std: float, channels: int) -> list[Callable]:
    return [
        *_ARRAY_FITS[fit](size),
        NormalizeIntensity(subtrahend=mean, divisor=std),
        RepeatChannel(repeats=channels),
        EnsureType(dtype=torch.float32),
    ]


def _pil_array(size: int, fit: str, mean: float, std: float, channels: int) -> list[Callable]:
    return [PILPreprocess(size, fit, mean, std, channels), EnsureType(dtype=torch.float32)]


# resize backend -> chain builder (dictionary and array versions)
_DICT_CHAINS: dict[str, Callable[..., list[Callable]]] = {"pil": _pil_dict, "torch": _torch_dict}
_ARRAY_CHAINS: dict[str, Callable[..., list[Callable]]] = {"pil": _pil_array, "torch": _torch_array}


def _check(fit: str, channels: int, backend: str) -> None:
    if fit not in _ARRAY_FITS:
        raise ValueError(f"raddino_preprocessing: fit must be one of {list(FIT_MODES)}, got {fit!r}")
    if int(channels) < 1:
        raise ValueError(f"raddino_preprocessing: channels must be >= 1, got {channels}")
    if backend not in _DICT_CHAINS:
        raise ValueError(
            f"raddino_preprocessing: resize_backend must be one of {list(RESIZE_BACKENDS)}, got {backend!r}"
        )


def raddino_preprocessing(
    keys: KeysCollection = "image",
    size: int = RADDINO_PREPROCESS.size,
    fit: str = "crop",
    mean: float = RADDINO_PREPROCESS.mean,
    std: float = RADDINO_PREPROCESS.std,
    channels: int = RADDINO_PREPROCESS.channels,
    resize_backend: str = RADDINO_PREPROCESS.resize_backend,
) -> Compose:
    """Dictionary transform chain mapping ``LoadCXRd`` output ``(1, H, W)`` in ``[0, 1]`` to ``(C, size, size)``.

    Args:
        keys: keys of the images to transform.
        size: output side ([HF] 518).
        fit: ``"crop"`` (rad-dino default: shortest edge -> ``size``, centre crop), ``"pad"`` (longest edge ->
            ``size``, symmetric pad with the image minimum) or ``"resize"`` (stretch to ``size x size``).
        mean: normalisation mean ([HF] 0.5307).
        std: normalisation std ([HF] 0.2583).
        channels: output channels; the grey channel is repeated ([HF] 3, ``do_convert_rgb``).
        resize_backend: ``"pil"`` (default, ``BitImageProcessor`` bit for bit) or ``"torch"`` (float resize,
            invertible, up to 18 grey levels from the processor next to sharp edges); see :data:`RESIZE_BACKENDS`.

    Returns:
        ``monai.transforms.Compose`` of dictionary transforms; float32 output.

    Raises:
        ValueError: unknown ``fit`` or ``resize_backend`` (lists the valid values) or ``channels < 1``.

    Example:
        >>> out = raddino_preprocessing()({"image": torch.rand(1, 300, 200)})
        >>> tuple(out["image"].shape)
        (3, 518, 518)
    """
    _check(fit, channels, resize_backend)
    return Compose(_DICT_CHAINS[resize_backend](keys, int(size), fit, mean, std, int(channels)))


def raddino_preprocessing_array(
    size: int = RADDINO_PREPROCESS.size,
    fit: str = "crop",
    mean: float = RADDINO_PREPROCESS.mean,
    std: float = RADDINO_PREPROCESS.std,
    channels: int = RADDINO_PREPROCESS.channels,
    resize_backend: str = RADDINO_PREPROCESS.resize_backend,
) -> Compose:
    """Array version of :func:`raddino_preprocessing` for one ``(1, H, W)`` image (same arguments, no ``keys``).

    Returns:
        ``monai.transforms.Compose``: ``(1, H, W)`` in ``[0, 1]`` -> ``(channels, size, size)`` float32.

    Example:
        >>> tuple(raddino_preprocessing_array(fit="pad")(torch.rand(1, 300, 200)).shape)
        (3, 518, 518)
    """
    _check(fit, channels, resize_backend)
    return Compose(_ARRAY_CHAINS[resize_backend](int(size), fit, mean, std, int(channels)))

"""RAD-DINO input preprocessing as MONAI transforms: shortest-edge resize, square fit, normalisation.

``raddino_preprocessing(fit="crop")`` reproduces microsoft/rad-dino's ``BitImageProcessor`` ([HF]
preprocessor_config.json): bicubic resize of the shortest edge to 518, 518x518 centre crop, rescale to [0, 1],
normalise with mean 0.5307 / std 0.2583 and repeat the grey channel to RGB. It works on ``LoadCXR`` output
(``(1, H, W)`` float32 in ``[0, 1]``) and gives ``(3, 518, 518)`` float32. ``fit="pad"`` / ``"resize"`` keep the whole
image (the centre crop drops the long-axis edges of non-square radiographs).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
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

__all__ = [
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


@dataclass(frozen=True)
class RadDinoPreprocessConfig:
    """RAD-DINO preprocessing constants, all from [HF] microsoft/rad-dino ``preprocessor_config.json``.

    Args:
        size: shortest edge after resizing (``size.shortest_edge: 518``; 518 = 37 patches of 14 px).
        crop_size: centre-crop height and width (``crop_size: 518x518``).
        resample: PIL resampling id (``resample: 3`` = bicubic).
        rescale_factor: ``1/255`` (uint8 -> [0, 1]).
        mean: ``image_mean`` (0.5307 on all 3 channels; MIMIC-CXR statistics, also used by MAIRA-2).
        std: ``image_std`` (0.2583 on all 3 channels).
        channels: 3 (``do_convert_rgb: true``; the grey image is repeated).

    Example:
        >>> RadDinoPreprocessConfig().to_hf_preprocessor_config()["size"]
        {'shortest_edge': 518}
    """

    size: int = 518
    crop_size: int = 518
    resample: int = 3
    rescale_factor: float = 1.0 / 255.0
    mean: float = 0.5307
    std: float = 0.2583
    channels: int = 3

    def to_hf_preprocessor_config(self) -> dict[str, Any]:
        """The ``preprocessor_config.json`` dict of an HF folder (the same keys and values as microsoft/rad-dino).

        Returns:
            JSON-serialisable dict loadable by ``transformers.AutoImageProcessor`` (``BitImageProcessor``).
        """
        return {
            "crop_size": {"height": self.crop_size, "width": self.crop_size},
            "do_center_crop": True,
            "do_convert_rgb": True,
            "do_normalize": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": [self.mean] * self.channels,
            "image_processor_type": "BitImageProcessor",
            "image_std": [self.std] * self.channels,
            "resample": self.resample,
            "rescale_factor": self.rescale_factor,
            "size": {"shortest_edge": self.size},
        }


#: the released microsoft/rad-dino preprocessing ([HF] preprocessor_config.json)
RADDINO_PREPROCESS = RadDinoPreprocessConfig()


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


def shortest_edge_size(hw: tuple[int, int], size: int) -> tuple[int, int]:
    """Output (H, W) with the shorter side = ``size``; the longer side is truncated like HF's
    ``get_resize_output_image_size(default_to_square=False)``: ``int(size * long / short)``."""
    h, w = hw
    return (size, int(size * w / h)) if h <= w else (int(size * h / w), size)


class ResizeShortestEdge(Transform):
    """Resize ``(C, H, W)`` so the shorter side is ``size``, keeping the aspect ratio (bicubic, antialiased).

    Numerically this is PIL's ``resize(BICUBIC)`` on floats (no uint8 rounding), i.e. the resize of rad-dino's
    ``BitImageProcessor`` (slow/PIL version, ``use_fast=False``).

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

# fit mode -> spatial steps, for one image (array) and for a dict (keys)
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


def _check_fit(fit: str, channels: int) -> None:
    if fit not in _ARRAY_FITS:
        raise ValueError(f"raddino_preprocessing: fit must be one of {list(FIT_MODES)}, got {fit!r}")
    if int(channels) < 1:
        raise ValueError(f"raddino_preprocessing: channels must be >= 1, got {channels}")


def raddino_preprocessing(
    keys: KeysCollection = "image",
    size: int = RADDINO_PREPROCESS.size,
    fit: str = "crop",
    mean: float = RADDINO_PREPROCESS.mean,
    std: float = RADDINO_PREPROCESS.std,
    channels: int = RADDINO_PREPROCESS.channels,
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

    Returns:
        ``monai.transforms.Compose`` of dictionary transforms; float32 output.

    Raises:
        ValueError: unknown ``fit`` (lists the valid values) or ``channels < 1``.

    Example:
        >>> out = raddino_preprocessing()({"image": torch.rand(1, 300, 200)})
        >>> tuple(out["image"].shape)
        (3, 518, 518)
    """
    _check_fit(fit, channels)
    steps = [
        *_DICT_FITS[fit](keys, int(size)),
        NormalizeIntensityd(keys, subtrahend=mean, divisor=std),
        RepeatChanneld(keys, repeats=int(channels)),
        EnsureTyped(keys, dtype=torch.float32),
    ]
    return Compose(steps)


def raddino_preprocessing_array(
    size: int = RADDINO_PREPROCESS.size,
    fit: str = "crop",
    mean: float = RADDINO_PREPROCESS.mean,
    std: float = RADDINO_PREPROCESS.std,
    channels: int = RADDINO_PREPROCESS.channels,
) -> Compose:
    """Array version of :func:`raddino_preprocessing` for one ``(1, H, W)`` image (same arguments, no ``keys``).

    Returns:
        ``monai.transforms.Compose``: ``(1, H, W)`` in ``[0, 1]`` -> ``(channels, size, size)`` float32.

    Example:
        >>> tuple(raddino_preprocessing_array(fit="pad")(torch.rand(1, 300, 200)).shape)
        (3, 518, 518)
    """
    _check_fit(fit, channels)
    steps = [
        *_ARRAY_FITS[fit](int(size)),
        NormalizeIntensity(subtrahend=mean, divisor=std),
        RepeatChannel(repeats=int(channels)),
        EnsureType(dtype=torch.float32),
    ]
    return Compose(steps)

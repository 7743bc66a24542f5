"""Multi-crop recipes (:class:`MultiCropConfig`, named presets in :data:`MULTICROP_RECIPES`) and the crop samplers.

Crop sampling has two modes (:data:`CROP_SAMPLERS`):

* ``"area"``: torchvision ``RandomResizedCrop.get_params`` -- area fraction ``~ U(scale)`` of the image area,
  log-uniform aspect ratio, 10 tries, central-crop fallback [DV2].
* ``"side"``: crop side ``~ U(scale) * short side`` (RAD-DINO's "U(259, 518) of a 518 image" [PAPER]), then the
  aspect ratio; height and width are clipped to the image.

Example:
    >>> MultiCropConfig.from_recipe("tiny").global_size
    112
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raddino_monai.transforms.config_fields import config_from_fields

__all__ = ["CROP_SAMPLERS", "CropBox", "MULTICROP_RECIPES", "MultiCropConfig", "as_multicrop_config",
           "sample_area_box", "sample_side_box"]

CropBox = tuple[int, int, int, int]
"""``(top, left, height, width)`` of a crop in pixels."""

_MAX_AREA_TRIES = 10  # [DV2] torchvision RandomResizedCrop.get_params


def sample_area_box(
    rng: np.random.RandomState, spatial_shape: Sequence[int], scale: Sequence[float], ratio: Sequence[float]
) -> CropBox:
    """Draw a crop whose *area* fraction is ``~ U(scale)`` (torchvision ``RandomResizedCrop.get_params``)."""
    height, width = int(spatial_shape[0]), int(spatial_shape[1])
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(_MAX_AREA_TRIES):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.randint(0, height - h + 1)), int(rng.randint(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def sample_side_box(
    rng: np.random.RandomState, spatial_shape: Sequence[int], scale: Sequence[float], ratio: Sequence[float]
) -> CropBox:
    """Draw a crop whose *side* is ``~ U(scale) * short side``; ``width / height ~ log-U(ratio)``, clipped."""
    height, width = int(spatial_shape[0]), int(spatial_shape[1])
    side = rng.uniform(scale[0], scale[1]) * min(height, width)
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    h = min(max(int(round(side / math.sqrt(aspect))), 1), height)
    w = min(max(int(round(side * math.sqrt(aspect))), 1), width)
    return int(rng.randint(0, height - h + 1)), int(rng.randint(0, width - w + 1)), h, w


CROP_SAMPLERS: dict[str, Callable[[np.random.RandomState, Sequence[int], Sequence[float], Sequence[float]], CropBox]]
CROP_SAMPLERS = {"area": sample_area_box, "side": sample_side_box}

_INTERPOLATION_KWARGS: dict[str, dict[str, Any]] = {
    "bicubic": {"antialias": True, "align_corners": False},
    "bilinear": {"antialias": True, "align_corners": False},
    "area": {},
    "nearest-exact": {},
}

_RADDINO_MEAN = (0.5307, 0.5307, 0.5307)  # [HF] preprocessor_config.json image_mean
_RADDINO_STD = (0.2583, 0.2583, 0.2583)  # [HF] preprocessor_config.json image_std
_IMAGENET_MEAN = (0.485, 0.456, 0.406)  # [DV2] data/transforms.py IMAGENET_DEFAULT_MEAN
_IMAGENET_STD = (0.229, 0.224, 0.225)  # [DV2] data/transforms.py IMAGENET_DEFAULT_STD


@dataclass(frozen=True)
class MultiCropConfig:
    """Multi-crop recipe. The defaults are :meth:`raddino`; see also :meth:`dinov2` and :meth:`tiny`.

    Scales are fractions of the input image, so the recipe works at any input size: side fractions of the short
    side in ``"side"`` mode, area fractions in ``"area"`` mode. Probabilities are per view.
    """

    n_global: int = 2  # [DV2] two global crops (teacher and student)
    n_local: int = 8  # [DV2] crops.local_crops_number
    global_size: int = 518  # [PAPER] 518 = 37 patches of 14 (UNVERIFIED vs vitb14_cxr.yaml)
    local_size: int = 196  # [PAPER] 196 = 14 patches of 14 (UNVERIFIED)
    crop_mode: str = "side"  # [PAPER] side ~ U(259, 518); "area" = RandomResizedCrop [DV2]
    global_scale: tuple[float, float] = (259 / 518, 1.0)  # [PAPER] U(259, 518) of a 518 short side (UNVERIFIED)
    local_scale: tuple[float, float] = (104 / 518, 259 / 518)  # [PAPER] U(104, 259) of a 518 short side (UNVERIFIED)
    aspect_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # [DV2] RandomResizedCrop default; (1, 1) = square crops
    interpolation: str = "bicubic"  # [DV2] RandomResizedCrop(interpolation=BICUBIC); antialiased
    flip_prob: float = 0.5  # [DV2] RandomHorizontalFlip(p=0.5), every view
    jitter_prob: float = 0.8  # [DV2] RandomApply(ColorJitter, p=0.8); hue/saturation/grayscale dropped (grey CXR)
    brightness: float = 0.4  # [DV2] ColorJitter(brightness=0.4)
    contrast: float = 0.4  # [DV2] ColorJitter(contrast=0.4)
    gamma_prob: float = 0.0  # not in [DV2]/[PAPER]: X-ray gamma jitter is an explicit opt-in (MONAI RandAdjustContrast)
    gamma_range: tuple[float, float] = (0.7, 1.5)  # used only when gamma_prob > 0
    # "less blur" [PAPER] without numbers (UNVERIFIED, augmentations.py on HF not read): half of [DV2]'s intended
    # 1.0 / 0.1 / 0.5 (the released DINOv2 code effectively used 0.0 / 0.9 / 0.5, see dinov2()).
    global_blur_probs: tuple[float, ...] = (0.5, 0.05)
    local_blur_prob: float = 0.25
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # [DV2] GaussianBlur sigma range
    blur_kernel_size: int = 9  # [DV2] GaussianBlur(kernel_size=9)
    global_solarize_probs: tuple[float, ...] = (0.0, 0.2)  # [DV2] RandomSolarize(p=0.2) on global view 2 only
    solarize_threshold: float = 128 / 255  # [DV2] RandomSolarize(threshold=128) on 8-bit images
    out_channels: int = 3  # [HF] do_convert_rgb: grey input is repeated to 3 channels
    normalize: bool = True
    mean: tuple[float, ...] = _RADDINO_MEAN
    std: tuple[float, ...] = _RADDINO_STD

    def __post_init__(self) -> None:
        for name in ("global_scale", "local_scale", "aspect_ratio", "gamma_range", "blur_sigma", "mean", "std"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        for name in ("global_blur_probs", "global_solarize_probs"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        problems = []
        if self.crop_mode not in CROP_SAMPLERS:
            problems.append(f"crop_mode must be one of {sorted(CROP_SAMPLERS)}, got {self.crop_mode!r}")
        if self.interpolation not in _INTERPOLATION_KWARGS:
            problems.append(f"interpolation must be one of {sorted(_INTERPOLATION_KWARGS)}, got {self.interpolation!r}")
        if self.n_global < 1 or self.n_local < 0:
            problems.append(f"need n_global >= 1 and n_local >= 0, got {self.n_global} and {self.n_local}")
        if self.global_size < 1 or self.local_size < 1:
            problems.append(f"crop sizes must be >= 1, got {self.global_size} and {self.local_size}")
        for name in ("global_scale", "local_scale", "aspect_ratio"):
            low, high = getattr(self, name)
            if not 0 < low <= high or (name != "aspect_ratio" and high > 1):
                problems.append(f"{name} must be (low, high) with 0 < low <= high (<= 1 for scales), got {(low, high)}")
        for name in ("global_blur_probs", "global_solarize_probs"):
            if len(getattr(self, name)) != self.n_global:
                problems.append(f"{name} needs one value per global view ({self.n_global}), got {getattr(self, name)}")
        if len(self.mean) != self.out_channels or len(self.std) != self.out_channels:
            problems.append(f"mean and std need out_channels={self.out_channels} values, got {self.mean}, {self.std}")
        if problems:
            raise ValueError("Invalid MultiCropConfig: " + "; ".join(problems) + ".")

    @classmethod
    def raddino(cls, **overrides: Any) -> MultiCropConfig:
        """RAD-DINO recipe [PAPER]: 518/196 px, side ~ U(259, 518) / U(104, 259) of a 518 image, less blur."""
        return cls(**overrides)

    @classmethod
    def dinov2(cls, blur_as_intended: bool = False, **overrides: Any) -> MultiCropConfig:
        """Natural-image DINOv2 recipe [DV2] ``ssl_default_config.yaml`` + ``data/augmentations.py``.

        Args:
            blur_as_intended: False (default) reproduces the released code's effective blur probabilities
                0.0 / 0.9 / 0.5 (global 1 / global 2 / local; dinov2 PR #411); True uses the intended 1.0 / 0.1 / 0.5.
            overrides: any other :class:`MultiCropConfig` field.
        """
        blur = {"global_blur_probs": (1.0, 0.1)} if blur_as_intended else {"global_blur_probs": (0.0, 0.9)}
        recipe: dict[str, Any] = {
            "global_size": 224,  # [DV2] crops.global_crops_size
            "local_size": 96,  # [DV2] crops.local_crops_size
            "crop_mode": "area",  # [DV2] RandomResizedCrop
            "global_scale": (0.32, 1.0),  # [DV2] crops.global_crops_scale
            "local_scale": (0.05, 0.32),  # [DV2] crops.local_crops_scale
            "local_blur_prob": 0.5,  # [DV2] local GaussianBlur(p=0.5) (0.5 either way)
            "mean": _IMAGENET_MEAN,
            "std": _IMAGENET_STD,
            **blur,
        }
        return cls(**{**recipe, **overrides})

    @classmethod
    def tiny(cls, **overrides: Any) -> MultiCropConfig:
        """CPU smoke-test recipe: :meth:`raddino` with 112 px global crops, 48 px local crops, 4 local views."""
        return cls(**{"global_size": 112, "local_size": 48, "n_local": 4, **overrides})

    @classmethod
    def from_recipe(cls, name: str = "raddino", **overrides: Any) -> MultiCropConfig:
        """A named preset of :data:`MULTICROP_RECIPES` with field overrides (what a bundle's ``recipe`` selects).

        Raises:
            ValueError: unknown recipe (the valid names are listed).
        """
        if name not in MULTICROP_RECIPES:
            raise ValueError(f"Unknown multi-crop recipe {name!r}; valid values: {sorted(MULTICROP_RECIPES)}.")
        return MULTICROP_RECIPES[name](**overrides)


#: recipe name -> preset (the names match ``raddino_monai.ssl.SSL_RECIPES``, so one ``recipe`` key picks both)
MULTICROP_RECIPES: dict[str, Callable[..., MultiCropConfig]] = {
    "raddino": MultiCropConfig.raddino,
    "dinov2": MultiCropConfig.dinov2,
    "tiny": MultiCropConfig.tiny,
}


def as_multicrop_config(config: MultiCropConfig | Mapping[str, Any] | None) -> MultiCropConfig:
    """Accept a config, a mapping of its fields (bundle JSON) or None (:meth:`MultiCropConfig.raddino`).

    Raises:
        ValueError: unknown fields (valid fields listed).
    """
    return config_from_fields(MultiCropConfig, config, MultiCropConfig.raddino)

"""ECAMP's image augmentations as a MONAI chain: :func:`ecamp_augmentations` (dictionary) and
:func:`ecamp_augmentations_array` (array), built from one step table.

[ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/pretrain_datasets.py`` lines 47-52::

    RandomResizedCrop(448, scale=(0.2, 1.0), interpolation=BICUBIC), RandomHorizontalFlip(),
    Grayscale(num_output_channels=3), ToTensor(), Normalize(mean=[0.4721], std=[0.3037])

Steps, on a ``(1, H, W)`` float image in [0, 1] (the package's image contract; ECAMP's PIL image after
``ToTensor``):

1. :class:`~raddino_monai.transforms.resized_crop.RandResizedCropd`: area ``U(0.2, 1.0)``, torchvision's aspect
   range (3/4, 4/3) (ECAMP does not set it), resized to 448 px, bicubic and antialiased (PIL's resize on ECAMP's
   PIL images is antialiased too);
2. MONAI ``RandFlipd(prob=0.5, spatial_axis=1)``: left-right flip (torchvision default p = 0.5);
3. grey channel repeated to 3 (``Grayscale(num_output_channels=3)``);
4. ``(x - 0.4721) / 0.3037`` on every channel (ECAMP's one-value ``Normalize`` broadcasts over the 3 channels);
5. float32 plain tensor.

An optional region map (``region_key``, e.g. ``sr_region``: ECAMP's SR attention region) gets the same crop
(nearest-exact) and flip, so the map follows the image (deviation 8 of ``docs/ecamp.md``); it is not normalised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from monai.transforms import (
    Compose,
    EnsureType,
    EnsureTyped,
    NormalizeIntensity,
    NormalizeIntensityd,
    RandFlip,
    RandFlipd,
    RepeatChannel,
    RepeatChanneld,
)

from raddino_monai.transforms.config_fields import config_from_fields
from raddino_monai.transforms.resized_crop import RandResizedCrop, RandResizedCropd

__all__ = ["ECAMPAugmentConfig", "as_ecamp_augment_config", "ecamp_augmentations", "ecamp_augmentations_array"]


@dataclass(frozen=True)
class ECAMPAugmentConfig:
    """ECAMP's augmentation values ([ECAMP] ``pretrain_datasets.py`` lines 47-52 unless noted).

    Args:
        size: crop output side = the SR target (line 48: ``RandomResizedCrop(448, ...)``).
        crop_scale: area fraction range (line 48: ``scale=(0.2, 1.0)``).
        crop_ratio: aspect range (not set in line 48: torchvision's default (3/4, 4/3)).
        mode: resize interpolation (line 48: ``InterpolationMode.BICUBIC``).
        flip_prob: horizontal flip probability (line 49: ``RandomHorizontalFlip()``, torchvision default 0.5).
        out_channels: output channels (line 50: ``Grayscale(num_output_channels=3)``).
        mean: normalisation mean (line 52: ``Normalize(mean=[0.4721], ...)``), the same for every channel.
        std: normalisation std (line 52: ``std=[0.3037]``).
    """

    size: int = 448
    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    mode: str = "bicubic"
    flip_prob: float = 0.5
    out_channels: int = 3
    mean: float = 0.4721
    std: float = 0.3037

    def __post_init__(self) -> None:
        for name in ("crop_scale", "crop_ratio"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        problems = []
        if self.size < 1 or self.out_channels < 1:
            problems.append(f"size and out_channels must be >= 1, found {self.size} and {self.out_channels}")
        if not 0.0 <= self.flip_prob <= 1.0:
            problems.append(f"flip_prob must be in [0, 1], found {self.flip_prob}")
        if self.std <= 0:
            problems.append(f"std must be > 0, found {self.std}")
        if problems:
            raise ValueError("Invalid ECAMPAugmentConfig: " + "; ".join(problems) + ".")


def as_ecamp_augment_config(config: ECAMPAugmentConfig | Mapping[str, Any] | None) -> ECAMPAugmentConfig:
    """Accept a config, a mapping of its fields (bundle JSON) or None (ECAMP's values).

    Raises:
        ValueError: unknown fields (valid fields listed).
    """
    return config_from_fields(ECAMPAugmentConfig, config)


_Step = tuple[Callable[..., Any], Callable[..., Any], dict[str, Any], bool]  # array, dict, kwargs, region too


def _steps(cfg: ECAMPAugmentConfig) -> list[_Step]:
    crop: dict[str, Any] = {"size": cfg.size, "scale": cfg.crop_scale, "ratio": cfg.crop_ratio}
    return [
        (RandResizedCrop, RandResizedCropd, crop, True),
        (RandFlip, RandFlipd, {"prob": cfg.flip_prob, "spatial_axis": 1}, True),
        (RepeatChannel, RepeatChanneld, {"repeats": cfg.out_channels}, False),
        (NormalizeIntensity, NormalizeIntensityd, {"subtrahend": cfg.mean, "divisor": cfg.std}, False),
        (EnsureType, EnsureTyped, {"dtype": torch.float32, "track_meta": False}, True),
    ]


def ecamp_augmentations(
    keys: str = "image",
    config: ECAMPAugmentConfig | Mapping[str, Any] | None = None,
    region_key: str | None = None,
) -> Compose:
    """Dictionary chain ``(1, H, W)`` in [0, 1] -> ``(3, size, size)`` float32 normalised, one draw per call.

    Args:
        keys: the image key.
        config: :class:`ECAMPAugmentConfig`, a mapping of its fields, or None (ECAMP's values).
        region_key: optional ``(1, H, W)`` region-weight map cropped and flipped with the image
            (``allow_missing_keys``: items without one pass).

    Returns:
        ``monai.transforms.Compose``; ``set_random_state(seed)`` seeds every step.

    Example:
        >>> aug = ecamp_augmentations("image", {"size": 64}).set_random_state(0)
        >>> tuple(aug({"image": torch.rand(1, 100, 80)})["image"].shape)
        (3, 64, 64)
    """
    cfg = as_ecamp_augment_config(config)
    out = []
    for _, make_dict, kwargs, region_too in _steps(cfg):
        if region_key is not None and region_too:
            extra = {"mode": (cfg.mode, "nearest-exact")} if make_dict is RandResizedCropd else {}
            out.append(make_dict([keys, region_key], allow_missing_keys=True, **kwargs, **extra))
        else:
            extra = {"mode": cfg.mode} if make_dict is RandResizedCropd else {}
            out.append(make_dict(keys, **kwargs, **extra))
    return Compose(out)


def ecamp_augmentations_array(config: ECAMPAugmentConfig | Mapping[str, Any] | None = None) -> Compose:
    """Array version of :func:`ecamp_augmentations` for one ``(1, H, W)`` image (same steps and draws).

    Example:
        >>> tuple(ecamp_augmentations_array({"size": 64})(torch.rand(1, 100, 80)).shape)
        (3, 64, 64)
    """
    cfg = as_ecamp_augment_config(config)
    steps = []
    for make_array, _, kwargs, _ in _steps(cfg):
        extra = {"mode": cfg.mode} if make_array is RandResizedCrop else {}
        steps.append(make_array(**kwargs, **extra))
    return Compose(steps)

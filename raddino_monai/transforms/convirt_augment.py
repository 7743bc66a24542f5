"""ConVIRT's image transformation family as a MONAI chain: :func:`convirt_augmentations` (dictionary) and
:func:`convirt_augmentations_array` (array), both built from one step table so they cannot drift apart.

[PAPER-CV] §3 / appendix applies five random transformations in sequence: random cropping, horizontal flipping,
affine transformation, colour jittering restricted to brightness and contrast, and Gaussian blur. The ranges in
:class:`ConVIRTAugmentConfig` are the paper's as transcribed by [RE3] (the paper text itself was not opened for this
module): crop ratio [0.6, 1.0], flip p = 0.5, rotation [-20, 20] degrees, translation up to 0.1 of the side, scaling
[0.95, 1.05], brightness and contrast factors [0.6, 1.4], blur sigma [0.1, 3.0].

Steps, on a ``(1, H, W)`` float image in [0, 1] (the package's image contract):

1. :class:`~raddino_monai.transforms.resized_crop.RandResizedCropd`: area fraction ``U(0.6, 1.0)``, torchvision's
   aspect range, resized to ``size`` (bilinear, antialiased);
2. MONAI ``RandFlipd(spatial_axis=1)``: left-right flip;
3. :class:`~raddino_monai.transforms.affine.RandIsotropicAffined` (MONAI ``RandAffined`` with torchvision's scale
   law): rotation ``U(-20, 20)`` degrees, translation ``U(-0.1, 0.1) * size`` pixels per axis, one content zoom
   ``U(0.95, 1.05)`` for both axes, zero padding (torchvision ``RandomAffine`` fills with 0), one resampling;
4. :class:`~raddino_monai.transforms.intensity.RandBrightnessContrastd`: torchvision ``ColorJitter(0.4, 0.4)``
   semantics, factors ``U(0.6, 1.4)``, random order, clipped to [0, 1];
5. :class:`~raddino_monai.transforms.intensity.RandGaussianBlurd`: sigma ``U(0.1, 3.0)``, kernel 19 (the paper gives
   no kernel size; 19 covers +-3 sigma at the largest sigma);
6. grey channel repeated to ``out_channels``, per-channel normalisation, float32 plain tensor.

References:
    - [PAPER-CV] Zhang et al., arXiv 2010.00747.
    - [RE] edreisMD/ConVIRT-pytorch @ c99ca5f ``dataloader/dataset_wrapper.py`` (224 px, ImageNet normalisation).
    - [RE3] jl298/repro-convirt @ 0422ab2 ``src/preprocess/transforms.py`` (the paper's ranges in its comments).
    - [HF] microsoft/rad-dino ``preprocessor_config.json`` (mean 0.5307, std 0.2583).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from monai.config import KeysCollection
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
    Resized,
)

from raddino_monai.transforms.affine import RandIsotropicAffine, RandIsotropicAffined
from raddino_monai.transforms.config_fields import config_from_fields
from raddino_monai.transforms.intensity import (
    RandBrightnessContrast,
    RandBrightnessContrastd,
    RandGaussianBlur,
    RandGaussianBlurd,
)
from raddino_monai.transforms.resized_crop import RandResizedCrop, RandResizedCropd

__all__ = ["ConVIRTAugmentConfig", "convirt_augmentations", "convirt_augmentations_array", "convirt_eval_transforms"]

_RADDINO_MEAN, _RADDINO_STD = 0.5307, 0.2583  # [HF] preprocessor_config.json image_mean / image_std
_IMAGENET_MEAN = (0.485, 0.456, 0.406)  # [RE] transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ConVIRTAugmentConfig:
    """Ranges of the ConVIRT image augmentations ([PAPER-CV] via [RE3] unless noted). Probabilities are per image.

    :meth:`resnet50` gives the paper's ResNet-50 input (ImageNet normalisation); the default normalises like
    RAD-DINO because the default image encoder is the RAD-DINO architecture (see
    :class:`raddino_monai.models.convirt.ConVIRTModelConfig`).
    """

    size: int = 224  # [PAPER-CV] 224 x 224 inputs ([RE] input_shape (224, 224, 3)); 16 x 16 patches for a ViT/14
    crop_scale: tuple[float, float] = (0.6, 1.0)  # [PAPER-CV] crop ratio [0.6, 1.0] ([RE3] RandomResizedCrop scale)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # torchvision RandomResizedCrop default ([RE3]); paper silent
    flip_prob: float = 0.5  # [PAPER-CV] horizontal flip p = 0.5
    affine_prob: float = 1.0  # [PAPER-CV] every transformation is applied in sequence ([RE3])
    rotate_deg: float = 20.0  # [PAPER-CV] rotation [-20, 20] degrees
    translate: float = 0.1  # [PAPER-CV] horizontal / vertical translation up to 0.1 of the side
    scale: tuple[float, float] = (0.95, 1.05)  # [PAPER-CV] scaling [0.95, 1.05]
    jitter_prob: float = 1.0  # [PAPER-CV] in sequence ([RE3])
    brightness: float = 0.4  # [PAPER-CV] brightness factor [0.6, 1.4] = ColorJitter(brightness=0.4)
    contrast: float = 0.4  # [PAPER-CV] contrast factor [0.6, 1.4] = ColorJitter(contrast=0.4)
    blur_prob: float = 1.0  # [PAPER-CV] in sequence ([RE3])
    blur_sigma: tuple[float, float] = (0.1, 3.0)  # [PAPER-CV] sigma [0.1, 3.0]
    blur_kernel_size: int = 19  # paper silent: 2 * ceil(3 * 3.0) + 1 covers +-3 sigma ([RE3] uses 23)
    out_channels: int = 3  # grey repeated to RGB for 3-channel encoders ([RE] PIL .convert("RGB"))
    normalize: bool = True
    mean: tuple[float, ...] = (_RADDINO_MEAN,) * 3  # RAD-DINO [HF]; ImageNet in resnet50()
    std: tuple[float, ...] = (_RADDINO_STD,) * 3

    def __post_init__(self) -> None:
        for name in ("crop_scale", "crop_ratio", "scale", "blur_sigma", "mean", "std"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        problems = []
        for name in ("flip_prob", "affine_prob", "jitter_prob", "blur_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1], found {getattr(self, name)}")
        if self.size < 1 or self.out_channels < 1:
            problems.append(f"size and out_channels must be >= 1, found {self.size} and {self.out_channels}")
        for name in ("crop_scale", "crop_ratio", "scale", "blur_sigma"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                problems.append(f"{name} must be (low, high) with 0 < low <= high, found {(low, high)}")
        if self.crop_scale[1] > 1:
            problems.append(f"crop_scale must not exceed 1 (area fraction), found {self.crop_scale}")
        if self.rotate_deg < 0 or self.translate < 0:
            problems.append(f"rotate_deg and translate must be >= 0, found {self.rotate_deg} and {self.translate}")
        if len(self.mean) != self.out_channels or len(self.std) != self.out_channels:
            problems.append(f"mean and std need out_channels={self.out_channels} values, found {self.mean}, {self.std}")
        if problems:
            raise ValueError("Invalid ConVIRTAugmentConfig: " + "; ".join(problems) + ".")

    @classmethod
    def resnet50(cls, **overrides: Any) -> ConVIRTAugmentConfig:
        """The paper's ResNet-50 input: 224 px, ImageNet normalisation ([RE] ``Normalize`` of ImageNet)."""
        return cls(**{"mean": _IMAGENET_MEAN, "std": _IMAGENET_STD, **overrides})

    @classmethod
    def tiny(cls, **overrides: Any) -> ConVIRTAugmentConfig:
        """CPU smoke-test recipe: the default with 64 px output."""
        return cls(**{"size": 64, **overrides})


def as_convirt_augment_config(config: ConVIRTAugmentConfig | Mapping[str, Any] | None) -> ConVIRTAugmentConfig:
    """Accept a config, a mapping of its fields (bundle JSON) or None (the default recipe).

    Raises:
        ValueError: unknown fields (valid fields listed).
    """
    return config_from_fields(ConVIRTAugmentConfig, config)


def _steps(cfg: ConVIRTAugmentConfig) -> list[tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]]]:
    """``(array transform, dictionary transform, shared kwargs)`` per step, in the paper's order."""
    shift = cfg.translate * cfg.size
    steps: list[tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]]] = [
        (RandResizedCrop, RandResizedCropd, {"size": cfg.size, "scale": cfg.crop_scale, "ratio": cfg.crop_ratio}),
        (RandFlip, RandFlipd, {"prob": cfg.flip_prob, "spatial_axis": 1}),
        (RandIsotropicAffine, RandIsotropicAffined, {
            "prob": cfg.affine_prob, "rotate_range": math.radians(cfg.rotate_deg), "translate_range": (shift, shift),
            "zoom_range": cfg.scale, "mode": "bilinear", "padding_mode": "zeros",
        }),
        (RandBrightnessContrast, RandBrightnessContrastd,
         {"prob": cfg.jitter_prob, "brightness": cfg.brightness, "contrast": cfg.contrast}),
        (RandGaussianBlur, RandGaussianBlurd,
         {"prob": cfg.blur_prob, "sigma": cfg.blur_sigma, "kernel_size": cfg.blur_kernel_size}),
    ]
    return steps + _output_steps(cfg)


def _output_steps(cfg: ConVIRTAugmentConfig) -> list[tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]]]:
    """The deterministic tail shared by training and evaluation: channel repeat, normalisation, float32."""
    steps: list[tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]]] = [
        (RepeatChannel, RepeatChanneld, {"repeats": cfg.out_channels})]
    if cfg.normalize:
        steps.append((NormalizeIntensity, NormalizeIntensityd,
                      {"subtrahend": list(cfg.mean), "divisor": list(cfg.std), "channel_wise": True}))
    steps.append((EnsureType, EnsureTyped, {"dtype": torch.float32, "track_meta": False}))
    return steps


def convirt_augmentations(
    keys: KeysCollection = "image", config: ConVIRTAugmentConfig | Mapping[str, Any] | None = None
) -> Compose:
    """Dictionary chain ``(1, H, W)`` in [0, 1] -> ``(out_channels, size, size)`` float32, one draw per call.

    Args:
        keys: image key(s); several keys share each draw (MONAI dictionary semantics).
        config: :class:`ConVIRTAugmentConfig`, a mapping of its fields, or None (defaults).

    Returns:
        ``monai.transforms.Compose``; ``set_random_state(seed)`` seeds every step.

    Raises:
        ValueError: invalid config values or fields.

    Example:
        >>> aug = convirt_augmentations("image", ConVIRTAugmentConfig.tiny()).set_random_state(0)
        >>> tuple(aug({"image": torch.rand(1, 100, 80)})["image"].shape)
        (3, 64, 64)
    """
    cfg = as_convirt_augment_config(config)
    return Compose([make_dict(keys, **kwargs) for _, make_dict, kwargs in _steps(cfg)])


def convirt_augmentations_array(config: ConVIRTAugmentConfig | Mapping[str, Any] | None = None) -> Compose:
    """Array version of :func:`convirt_augmentations` for one ``(1, H, W)`` image (same steps and draws).

    Example:
        >>> tuple(convirt_augmentations_array(ConVIRTAugmentConfig.tiny())(torch.rand(1, 100, 80)).shape)
        (3, 64, 64)
    """
    cfg = as_convirt_augment_config(config)
    return Compose([make_array(**kwargs) for make_array, _, kwargs in _steps(cfg)])


def convirt_eval_transforms(
    keys: KeysCollection = "image", config: ConVIRTAugmentConfig | Mapping[str, Any] | None = None
) -> Compose:
    """The deterministic input of a trained ConVIRT model (retrieval, embedding): no random step.

    The whole image is resized to ``size x size`` (bilinear, antialiased: the training crop at area fraction 1),
    then the training chain's channel repeat, normalisation and float32 conversion ([PAPER-CV] does not state its
    test-time transform; [RE] resizes to the input shape).

    Example:
        >>> tuple(convirt_eval_transforms("image", ConVIRTAugmentConfig.tiny())({"image": torch.rand(1, 100, 80)})
        ...       ["image"].shape)
        (3, 64, 64)
    """
    cfg = as_convirt_augment_config(config)
    resize = Resized(keys, spatial_size=(cfg.size, cfg.size), mode="bilinear", align_corners=False, anti_aliasing=True)
    return Compose([resize, *(make_dict(keys, **kwargs) for _, make_dict, kwargs in _output_steps(cfg))])

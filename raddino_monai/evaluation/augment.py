"""MONAI transform chains for frozen-feature evaluation (classification probes and segmentation heads).

Classification ([PAPER] RAD-DINO §4.2 / appendix: linear probes trained with random flip, crop, affine, intensity
jitter and Gaussian noise): ``LoadCXRd -> raddino_preprocessing`` (``(3, S, S)`` normalised), then, for training,
the random transforms below on the normalised image. Intensity magnitudes are given in ``[0, 1]`` image units and
converted to normalised units by the [HF] std (0.2583). The paper names the augmentation types but not their
magnitudes; the magnitudes in :class:`AugmentationConfig` are ours.

Segmentation ([PAPER] §4.3: flips except for left/right structures, affine, elastic, brightness/contrast, gamma):
image and mask are loaded, resized together (image bilinear, mask nearest), augmented together by the same random
draw (one dictionary transform over both keys) and only then the image is normalised and repeated to RGB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from monai.transforms import (
    Compose,
    EnsureTyped,
    NormalizeIntensityd,
    Rand2DElasticd,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandScaleCropd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    RepeatChanneld,
    Resized,
    SpatialPadd,
)

from raddino_monai.transforms import RADDINO_PREPROCESS, LoadCXRd, raddino_preprocessing

__all__ = [
    "AugmentationConfig",
    "SEGMENTATION_FITS",
    "classification_transforms",
    "segmentation_transforms",
]


@dataclass(frozen=True)
class AugmentationConfig:
    """Magnitudes of the evaluation augmentations (our choices; the paper lists only the types).

    Args:
        flip_prob: horizontal flip probability (segmentation: only when ``horizontal_flip`` is allowed).
        crop_prob: probability of a random crop (classification) keeping ``crop_scale``..1 of each side, resized back.
        crop_scale: smallest side fraction kept by the random crop.
        affine_prob: probability of a random affine.
        rotate_deg: rotation range ± degrees.
        scale: zoom range ± fraction.
        translate: translation range ± fraction of the side.
        intensity_prob: probability of each intensity jitter (contrast scale, brightness shift, gamma).
        contrast: contrast jitter ± fraction.
        brightness: brightness shift ± in [0, 1] image units.
        gamma: gamma range (segmentation).
        noise_prob: Gaussian noise probability (classification).
        noise_std: Gaussian noise std in [0, 1] image units.
        elastic_prob: elastic deformation probability (segmentation).
        elastic_spacing: elastic control-point spacing as a fraction of the side.
        elastic_magnitude: elastic offset magnitude range (MONAI ``Rand2DElastic`` units).
    """

    flip_prob: float = 0.5
    crop_prob: float = 0.5
    crop_scale: float = 0.8
    affine_prob: float = 0.5
    rotate_deg: float = 10.0
    scale: float = 0.1
    translate: float = 0.05
    intensity_prob: float = 0.5
    contrast: float = 0.2
    brightness: float = 0.1
    gamma: tuple[float, float] = (0.7, 1.5)
    noise_prob: float = 0.3
    noise_std: float = 0.02
    elastic_prob: float = 0.3
    elastic_spacing: float = 0.125
    elastic_magnitude: tuple[float, float] = (0.5, 1.5)


def classification_transforms(
    size: int, fit: str = "crop", augment: bool = False, aug: AugmentationConfig | None = None, keys: str = "image"
) -> Compose:
    """``path -> (3, S, S)`` normalised image, with the classification augmentations when ``augment``.

    Args:
        size: output side S (a multiple of the patch size).
        fit: ``raddino_preprocessing`` fit mode (``"crop"``, ``"pad"``, ``"resize"``).
        augment: add the random transforms (training).
        aug: magnitudes; default :class:`AugmentationConfig`.
        keys: image key.

    Returns:
        a ``Compose`` of dictionary transforms.
    """
    aug = aug or AugmentationConfig()
    std = RADDINO_PREPROCESS.std
    steps: list[Callable] = [LoadCXRd(keys), raddino_preprocessing(keys, size=size, fit=fit)]
    if augment:
        steps += [
            RandFlipd(keys, prob=aug.flip_prob, spatial_axis=1),
            RandScaleCropd(keys, roi_scale=aug.crop_scale, max_roi_scale=1.0, random_size=True),
            Resized(keys, spatial_size=(size, size), mode="bilinear"),
            RandAffined(
                keys,
                prob=aug.affine_prob,
                rotate_range=math.radians(aug.rotate_deg),
                scale_range=(aug.scale, aug.scale),
                translate_range=(aug.translate * size, aug.translate * size),
                padding_mode="border",
            ),
            RandScaleIntensityd(keys, factors=aug.contrast, prob=aug.intensity_prob),
            RandShiftIntensityd(keys, offsets=aug.brightness / std, prob=aug.intensity_prob),
            RandGaussianNoised(keys, prob=aug.noise_prob, std=aug.noise_std / std),
        ]
    steps.append(EnsureTyped(keys, track_meta=False))
    return Compose(steps)


#: segmentation fit mode -> spatial steps for ``keys`` with one interpolation mode per key (image area, mask nearest).
SEGMENTATION_FITS: dict[str, Callable[[list[str], list[str], int], list[Callable]]] = {
    "resize": lambda keys, modes, s: [Resized(keys, spatial_size=(s, s), mode=modes)],
    "pad": lambda keys, modes, s: [
        Resized(keys, spatial_size=s, size_mode="longest", mode=modes),
        SpatialPadd(keys, spatial_size=(s, s), method="symmetric"),
    ],
}


def segmentation_transforms(
    size: int,
    load_mask: Callable | None,
    fit: str = "resize",
    augment: bool = False,
    horizontal_flip: bool = True,
    aug: AugmentationConfig | None = None,
    image_key: str = "image",
    mask_key: str = "mask",
    keep_meta: bool = False,
) -> Compose:
    """``{image path, mask path} -> {(3, S, S) normalised image, (C, S, S) mask}`` with joint augmentation.

    Args:
        size: output side S.
        load_mask: dictionary transform loading ``mask_key`` (e.g. :class:`raddino_monai.transforms.masks.LoadMaskd`);
            ``None`` for inference without masks.
        fit: ``"resize"`` (stretch the whole image) or ``"pad"`` (longest side to S, symmetric zero padding).
        augment: add the random transforms (training).
        horizontal_flip: allow left-right flips; set False when the classes are lateralised (left/right lung).
        aug: magnitudes; default :class:`AugmentationConfig`.
        image_key: image key.
        mask_key: mask key.
        keep_meta: keep MetaTensors (needed by ``Invertd``); False gives plain tensors that any DataLoader collates
            (``LoadCXR`` meta holds ``None`` entries).

    Returns:
        a ``Compose`` of dictionary transforms (invertible spatial steps, so ``Invertd`` can map predictions back).

    Raises:
        ValueError: unknown ``fit``.
    """
    if fit not in SEGMENTATION_FITS:
        raise ValueError(f"Unknown segmentation fit {fit!r}; valid values: {sorted(SEGMENTATION_FITS)}.")
    aug = aug or AugmentationConfig()
    both = [image_key] if load_mask is None else [image_key, mask_key]
    steps: list[Callable] = [LoadCXRd(image_key)]
    if load_mask is not None:
        steps.append(load_mask)
    steps += SEGMENTATION_FITS[fit](both, ["area", "nearest"][: len(both)], size)
    if augment:
        modes = ["bilinear", "nearest"][: len(both)]
        if horizontal_flip:
            steps.append(RandFlipd(both, prob=aug.flip_prob, spatial_axis=1))
        spacing = max(2, int(aug.elastic_spacing * size))
        steps += [
            RandAffined(
                both,
                prob=aug.affine_prob,
                rotate_range=math.radians(aug.rotate_deg),
                scale_range=(aug.scale, aug.scale),
                translate_range=(aug.translate * size, aug.translate * size),
                mode=modes,
                padding_mode="zeros",
            ),
            Rand2DElasticd(
                both,
                spacing=(spacing, spacing),
                magnitude_range=aug.elastic_magnitude,
                prob=aug.elastic_prob,
                mode=modes,
                padding_mode="zeros",
            ),
            RandAdjustContrastd(image_key, prob=aug.intensity_prob, gamma=aug.gamma),
            RandScaleIntensityd(image_key, factors=aug.contrast, prob=aug.intensity_prob),
            RandShiftIntensityd(image_key, offsets=aug.brightness, prob=aug.intensity_prob),
        ]
    steps += [
        NormalizeIntensityd(image_key, subtrahend=RADDINO_PREPROCESS.mean, divisor=RADDINO_PREPROCESS.std),
        RepeatChanneld(image_key, repeats=RADDINO_PREPROCESS.channels),
        EnsureTyped(image_key, dtype=torch.float32, track_meta=keep_meta),
        EnsureTyped(both, track_meta=keep_meta),
    ]
    return Compose(steps)

"""The RAD-DINO preprocessing settings ([HF] microsoft/rad-dino ``preprocessor_config.json``) and output-size rule.

One source for every preprocessing default: :data:`RADDINO_PREPROCESS`. Both implementations read it:
``"pil"`` (:mod:`.pil_preprocess`, the default: transformers' ``BitImageProcessor`` bit for bit) and ``"torch"``
(:mod:`.preprocess`, a float resize without uint8 rounding; faster on batches, not identical).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RESIZE_BACKENDS", "RadDinoPreprocessConfig", "RADDINO_PREPROCESS", "shortest_edge_size"]

#: accepted values of ``resize_backend``: ``"pil"`` reproduces ``BitImageProcessor`` (uint8 PIL resize) bit for bit;
#: ``"torch"`` resizes floats (antialiased bicubic, clamped once at the end); see :class:`RadDinoPreprocessConfig`.
RESIZE_BACKENDS: tuple[str, ...] = ("pil", "torch")


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
        resize_backend: ``"pil"`` (default): the released processor exactly — rad_dino and the model card load it
            with ``use_fast=False``, which resizes the uint8 PIL image and rounds each pass to uint8 ([CARD]);
            ``"torch"``: float resize, no uint8 rounding. Measured on the 100 sample PNGs at 518 px, ``"torch"``
            differs from the processor by up to 18 grey levels (0.071 in [0, 1] units; median of the per-image
            maxima 1.1 levels), mostly next to burnt-in text and borders, where PIL clips its first pass's bicubic
            overshoot to [0, 255] and a float resize does not. Not part of ``preprocessor_config.json``.

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
    resize_backend: str = "pil"

    def __post_init__(self) -> None:
        if self.resize_backend not in RESIZE_BACKENDS:
            raise ValueError(
                f"RadDinoPreprocessConfig.resize_backend must be one of {list(RESIZE_BACKENDS)}, "
                f"got {self.resize_backend!r}"
            )

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


def shortest_edge_size(hw: tuple[int, int], size: int) -> tuple[int, int]:
    """Output (H, W) with the shorter side = ``size``; the longer side is truncated like HF's
    ``get_resize_output_image_size(default_to_square=False)``: ``int(size * long / short)``.

    Example:
        >>> shortest_edge_size((600, 400), 518)
        (777, 518)
    """
    h, w = hw
    return (size, int(size * w / h)) if h <= w else (int(size * h / w), size)

"""iBOT masks: their settings (:class:`MaskingConfig`), the BEiT block-wise mask generator and the DINOv2 collate's
per-batch mask sampling.

All randomness comes from an explicit NumPy generator (``numpy.random.Generator`` or ``RandomState``, e.g. a
MONAI transform's ``self.R``); nothing touches Python's or NumPy's global RNG.

``max_num_patches`` and the 666-vs-684 quirk: [DV2] ``train.py`` builds the generator with
``max_num_patches=0.5 * img_size // patch_size * img_size // patch_size``, which Python evaluates left to right as
``((0.5 * 518) // 14 * 518) // 14 = 666.0`` for 518 px / patch 14, not the intended ``0.5 * 37 * 37 = 684.5``
(for 224 / 14 both give 128). The cap only bounds the area of one block, so the effect is small. Our default is the
intended ``0.5 * h * w``; :func:`dinov2_max_num_patches` gives DINOv2's value for bit-level parity.

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/data/masking.py``, ``dinov2/data/collate.py``,
      ``dinov2/train/train.py``.
    - [0] Bao et al., BEiT, 2021, https://arxiv.org/abs/2106.08254 (block-wise masking).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Union

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "MaskingConfig",
    "MaskingGenerator",
    "IBOTMasks",
    "sample_ibot_masks",
    "masks_weight_from_masks",
    "dinov2_max_num_patches",
    "NumpyRNG",
]

NumpyRNG = Union[np.random.Generator, np.random.RandomState]


@dataclass(frozen=True)
class MaskingConfig:
    """Which global-crop images get iBOT masks and how much of each (the ``masking`` section of ``SSLConfig``).

    The names are [DV2]'s ``ibot.*`` keys, so a value can be looked up in ``ssl_default_config.yaml`` as it is.

    Raises:
        ValueError: a probability outside [0, 1] or a ratio range that is not ``0 <= min <= max <= 1`` (the
            message names the field).

    Example:
        >>> MaskingConfig().mask_ratio_min_max
        (0.1, 0.5)
    """

    mask_sample_probability: float = 0.5  # share of global-crop images masked [DV2] ibot.mask_sample_probability
    mask_ratio_min_max: tuple[float, float] = (0.1, 0.5)  # masked-patch ratio range [DV2] ibot.mask_ratio_min_max

    def __post_init__(self) -> None:
        ratio = tuple(float(r) for r in self.mask_ratio_min_max)
        if len(ratio) != 2:
            raise ValueError(f"masking.mask_ratio_min_max must be a (min, max) pair, found {self.mask_ratio_min_max}.")
        object.__setattr__(self, "mask_ratio_min_max", ratio)
        object.__setattr__(self, "mask_sample_probability", float(self.mask_sample_probability))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value is out of range."""
        if not 0.0 <= self.mask_sample_probability <= 1.0:
            raise ValueError(
                f"masking.mask_sample_probability must lie in [0.0, 1.0], found {self.mask_sample_probability}."
            )
        low, high = self.mask_ratio_min_max
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"masking.mask_ratio_min_max must satisfy 0 <= min <= max <= 1, found {(low, high)}.")


def _randint_inclusive(rng: NumpyRNG, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (both inclusive, like Python's ``random.randint``)."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(low, high + 1))
    return int(rng.randint(low, high + 1))


def _uniform(rng: NumpyRNG, low: float, high: float) -> float:
    """``low + (high - low) * U[0, 1)``: like Python's ``random.uniform``, also valid when ``high < low``."""
    return float(low + (high - low) * rng.random())


def dinov2_max_num_patches(image_size: int, patch_size: int) -> float:
    """DINOv2's ``max_num_patches`` as its code evaluates it (666.0 for 518 / 14; see module docstring)."""
    return 0.5 * image_size // patch_size * image_size // patch_size


class MaskingGenerator:
    """BEiT block-wise mask generator ([DV2] ``MaskingGenerator``, same draws and acceptance rules).

    Each block: area ``~ U(min_num_patches, max_area)``, aspect ratio ``exp(U(log min_aspect, log max_aspect))``,
    ``h = round(sqrt(area * aspect))``, ``w = round(sqrt(area / aspect))``, kept if it fits and adds between 1 and
    ``max_area`` new patches (10 tries per block). Blocks are added until the requested count is reached or a block
    fails. The count never exceeds the request. Rounding means a block can cover 3 patches when the drawn area is
    close to 4 (e.g. 1 x 3), as in DINOv2.

    Args:
        input_size: patch grid ``(h, w)`` (an int means square).
        max_num_patches: cap on the area of one block; ``None`` -> ``0.5 * h * w`` (intended DINOv2 value).
        min_num_patches: minimum block area ([DV2] 4).
        min_aspect: minimum block aspect ratio ([DV2] 0.3).
        max_aspect: maximum aspect ratio; ``None`` -> ``1 / min_aspect`` ([DV2]).

    Raises:
        ValueError: non-positive grid, ``min_aspect <= 0`` or ``max_aspect < min_aspect``.

    Example:
        >>> gen = MaskingGenerator((37, 37))
        >>> mask = gen(200, rng=np.random.default_rng(0))   # (37, 37) bool with <= 200 True
    """

    def __init__(
        self,
        input_size: int | tuple[int, int],
        max_num_patches: float | None = None,
        min_num_patches: int = 4,
        min_aspect: float = 0.3,
        max_aspect: float | None = None,
    ) -> None:
        height, width = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        if height < 1 or width < 1:
            raise ValueError(f"input_size must be a positive (h, w) patch grid, found {input_size}.")
        max_aspect = 1.0 / min_aspect if max_aspect is None and min_aspect > 0 else max_aspect
        if not min_aspect > 0 or max_aspect is None or max_aspect < min_aspect:
            raise ValueError(f"Need 0 < min_aspect <= max_aspect, found min_aspect={min_aspect}, max={max_aspect}.")
        self.height, self.width = int(height), int(width)
        self.num_patches = self.height * self.width
        self.max_num_patches = 0.5 * self.num_patches if max_num_patches is None else float(max_num_patches)
        self.min_num_patches = min_num_patches
        self.log_aspect_ratio = (math.log(min_aspect), math.log(max_aspect))

    def _add_block(self, mask: np.ndarray, max_mask_patches: float, rng: NumpyRNG) -> int:
        delta = 0
        for _ in range(10):
            target_area = _uniform(rng, self.min_num_patches, max_mask_patches)
            aspect_ratio = math.exp(_uniform(rng, *self.log_aspect_ratio))
            h = int(round(math.sqrt(target_area * aspect_ratio)))
            w = int(round(math.sqrt(target_area / aspect_ratio)))
            if w < self.width and h < self.height:
                top = _randint_inclusive(rng, 0, self.height - h)
                left = _randint_inclusive(rng, 0, self.width - w)
                block = mask[top : top + h, left : left + w]
                new = h * w - int(block.sum())
                if 0 < new <= max_mask_patches:
                    block[...] = True
                    delta += new
            if delta > 0:
                break
        return delta

    def __call__(self, num_masking_patches: int, rng: NumpyRNG) -> np.ndarray:
        """A ``(h, w)`` boolean mask with at most ``num_masking_patches`` True entries (0 -> all False)."""
        mask = np.zeros((self.height, self.width), dtype=bool)
        count = 0
        while count < num_masking_patches:
            max_mask_patches = min(num_masking_patches - count, self.max_num_patches)
            delta = self._add_block(mask, max_mask_patches, rng)
            if delta == 0:
                break
            count += delta
        return mask


class IBOTMasks(NamedTuple):
    """Masks of one batch of global crops (unpacks as ``masks, masks_weight, n_masked_images``).

    Attributes:
        masks: ``(n_images, h * w)`` bool, True = masked patch (row-major grid).
        masks_weight: ``(M,)`` float32, ``1 / n_masked`` of the owning image for each masked patch, in
            ``masks.flatten().nonzero()`` order.
        n_masked_images: number of images with at least one masked patch.
    """

    masks: Tensor
    masks_weight: Tensor
    n_masked_images: int


def masks_weight_from_masks(masks: Tensor) -> Tensor:
    """Per-masked-patch weights ``(M,)``: ``1 / (masked patches of its image)`` ([DV2] collate)."""
    if masks.ndim != 2 or masks.dtype != torch.bool:
        raise ValueError(f"masks must be a (n_images, N) bool tensor, found {masks.dtype} {tuple(masks.shape)}.")
    per_image = 1.0 / masks.sum(dim=-1).clamp(min=1).float()
    return per_image.unsqueeze(-1).expand_as(masks)[masks]


def sample_ibot_masks(
    n_images: int,
    grid: tuple[int, int],
    rng: NumpyRNG,
    config: MaskingConfig | None = None,
    generator: MaskingGenerator | None = None,
) -> IBOTMasks:
    """Masks for a batch of global crops, as [DV2] ``collate_data_and_cast``.

    ``int(n_images * p)`` images are masked (``p = config.mask_sample_probability``); with
    ``r = linspace(min, max, n_masked + 1)`` over ``config.mask_ratio_min_max`` image ``i`` gets
    ``int(N * U(r[i], r[i + 1]))`` patches requested (stratified ratios), the other images none; the list is then
    shuffled. ``N = h * w``.

    Args:
        n_images: number of global-crop images (``n_global_crops * batch``; DINOv2's ``B``).
        grid: patch grid ``(h, w)``.
        rng: NumPy generator for every draw.
        config: masking settings; ``None`` -> :class:`MaskingConfig` defaults ([DV2]).
        generator: block generator; ``None`` -> ``MaskingGenerator(grid)`` (intended ``max_num_patches``).

    Returns:
        :class:`IBOTMasks`.

    Raises:
        TypeError: ``config`` is not a :class:`MaskingConfig`.
        ValueError: ``generator`` grid != ``grid``.
    """
    config = MaskingConfig() if config is None else config
    if not isinstance(config, MaskingConfig):
        raise TypeError(f"config must be a MaskingConfig, found {type(config).__name__} ({config!r}).")
    lo, hi = config.mask_ratio_min_max
    generator = MaskingGenerator(grid) if generator is None else generator
    if (generator.height, generator.width) != tuple(grid):
        raise ValueError(f"generator grid {(generator.height, generator.width)} differs from grid {tuple(grid)}.")
    n_patches = generator.num_patches
    n_masked = int(n_images * config.mask_sample_probability)
    bounds = np.linspace(lo, hi, n_masked + 1)
    masks = [generator(int(n_patches * _uniform(rng, bounds[i], bounds[i + 1])), rng) for i in range(n_masked)]
    masks += [np.zeros((generator.height, generator.width), dtype=bool) for _ in range(n_masked, n_images)]
    order = rng.permutation(n_images)
    shuffled = np.array([masks[i] for i in order], dtype=bool).reshape(n_images, n_patches)
    stacked = torch.from_numpy(shuffled)
    return IBOTMasks(stacked, masks_weight_from_masks(stacked), int(stacked.any(dim=-1).sum()))

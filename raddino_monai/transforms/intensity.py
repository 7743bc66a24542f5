"""X-ray intensity augmentations for DINO multi-crop views (array + dictionary pairs).

DINOv2's photometric augmentations [DV2] ``data/augmentations.py`` are ``ColorJitter(0.4, 0.4, 0.2, 0.1)`` with
p=0.8, ``RandomGrayscale(0.2)``, ``GaussianBlur(kernel 9, sigma U(0.1, 2))`` and ``RandomSolarize(128)``. Hue,
saturation and grayscale conversion do nothing to a grey radiograph, so this module keeps the parts that act on
grey images:

* :class:`RandBrightnessContrast` -- ColorJitter's brightness and contrast, torchvision semantics.
* :class:`RandGaussianBlur` -- torchvision ``GaussianBlur`` semantics: one isotropic sigma, fixed kernel, reflect
  padding. MONAI's ``RandGaussianSmooth`` draws an independent sigma per axis and truncates the kernel at 4 sigma,
  so it does not reproduce [DV2].
* :class:`RandSolarize` -- torchvision ``solarize``: pixels ``>= threshold`` become ``max_value - x``; the default
  threshold 128/255 equals [DV2]'s 128 on 8-bit images.

Gamma: reuse :class:`monai.transforms.RandAdjustContrast` (``x -> ((x - min) / range) ** gamma * range + min``).

All transforms take ``(C, H, W)`` float images in [0, 1] (the package's image contract) and draw their random
parameters in ``randomize()`` from ``self.R``. The dictionary versions apply one draw to every key, as MONAI does.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import TransformBackends, convert_to_tensor

__all__ = [
    "gaussian_blur",
    "RandBrightnessContrast",
    "RandBrightnessContrastd",
    "RandGaussianBlur",
    "RandGaussianBlurd",
    "RandSolarize",
    "RandSolarized",
]


def _as_float_image(img: NdarrayOrTensor, name: str) -> torch.Tensor:
    """Convert ``img`` to a tensor (a MetaTensor stays one) and check it is a float ``(C, H, W)`` image."""
    out = convert_to_tensor(img, track_meta=isinstance(img, MetaTensor))
    if out.ndim != 3:
        raise ValueError(f"{name} expects a (C, H, W) image, got shape {tuple(out.shape)}.")
    if not torch.is_floating_point(out):
        raise ValueError(f"{name} expects a float image in [0, 1], got dtype {out.dtype}.")
    return out


def gaussian_blur(img: torch.Tensor, sigma: float, kernel_size: int = 9) -> torch.Tensor:
    """Isotropic separable Gaussian blur with torchvision ``gaussian_blur`` semantics [DV2].

    The kernel is ``exp(-x**2 / (2 sigma**2))`` sampled at ``x = -(k-1)/2 .. (k-1)/2`` and normalised to sum 1;
    borders use reflect padding (replicate when the image is too small to reflect).

    Args:
        img: ``(C, H, W)`` float image.
        sigma: standard deviation in pixels (> 0).
        kernel_size: odd kernel size; [DV2] uses 9.

    Returns:
        ``(C, H, W)`` blurred image, same dtype and device.

    Raises:
        ValueError: if ``kernel_size`` is not a positive odd integer or ``sigma <= 0``.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}.")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    half = (kernel_size - 1) / 2
    weights = [math.exp(-0.5 * ((i - half) / sigma) ** 2) for i in range(kernel_size)]
    weights = [w / sum(weights) for w in weights]
    height, width = img.shape[-2:]
    pad = kernel_size // 2
    mode = "reflect" if min(height, width) > pad else "replicate"
    padded = F.pad(img.unsqueeze(0), (pad, pad, pad, pad), mode=mode)[0]
    # separable weighted sums of shifted views: several times faster than a grouped conv2d on CPU
    rows = padded[..., 0:width] * weights[0]
    for i in range(1, kernel_size):
        rows.add_(padded[..., i : i + width], alpha=weights[i])
    out = rows[..., 0:height, :] * weights[0]
    for i in range(1, kernel_size):
        out.add_(rows[..., i : i + height, :], alpha=weights[i])
    return out


class _RandFloatImageTransform(RandomizableTransform):
    """Array-transform base: check the ``(C, H, W)`` float image, draw in :meth:`randomize`, then :meth:`_apply`."""

    backend = [TransformBackends.TORCH]

    def randomize(self, data: object = None) -> None:
        """Draw whether the transform fires (subclasses add their parameters, from ``self.R``)."""
        super().randomize(None)

    @abstractmethod
    def _apply(self, img: torch.Tensor) -> torch.Tensor:
        """Transform ``img`` ``(C, H, W)`` with the current draw (called only when the transform fires)."""

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> torch.Tensor:
        """Args: img: ``(C, H, W)`` float image in [0, 1]; randomize: draw new parameters first (``False``: reuse
        the last draw). Returns: ``(C, H, W)`` tensor (a MetaTensor stays one)."""
        out = _as_float_image(img, type(self).__name__)
        if randomize:
            self.randomize()
        if not self._do_transform:
            return out
        return self._apply(out)


class RandBrightnessContrast(_RandFloatImageTransform):
    """Random brightness and contrast jitter (torchvision ``ColorJitter`` semantics, grey images).

    Brightness multiplies by ``b ~ U(max(0, 1 - brightness), 1 + brightness)``; contrast blends with the image mean,
    ``c * x + (1 - c) * mean(x)`` with ``c ~ U(max(0, 1 - contrast), 1 + contrast)``; each step clips to [0, 1].
    The order of the two steps is drawn at random, as ColorJitter permutes its operations. For an RGB image the
    mean is over all channels (equal to torchvision's grayscale mean when the channels are equal).

    Args:
        prob: probability of applying the jitter; [DV2] ``RandomApply(ColorJitter, p=0.8)``.
        brightness: brightness jitter strength; [DV2] 0.4.
        contrast: contrast jitter strength; [DV2] 0.4.

    Example:
        >>> t = RandBrightnessContrast(prob=1.0).set_random_state(0)
        >>> t(torch.rand(1, 8, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, prob: float = 0.8, brightness: float = 0.4, contrast: float = 0.4) -> None:
        RandomizableTransform.__init__(self, prob)
        if brightness < 0 or contrast < 0:
            raise ValueError(f"brightness and contrast must be >= 0, got {brightness} and {contrast}.")
        self.brightness = brightness
        self.contrast = contrast
        self.brightness_factor = 1.0
        self.contrast_factor = 1.0
        self.brightness_first = True

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        self.brightness_factor = self.R.uniform(max(0.0, 1.0 - self.brightness), 1.0 + self.brightness)
        self.contrast_factor = self.R.uniform(max(0.0, 1.0 - self.contrast), 1.0 + self.contrast)
        self.brightness_first = bool(self.R.rand() < 0.5)

    def _apply_brightness(self, img: torch.Tensor) -> torch.Tensor:
        return (img * self.brightness_factor).clamp(0.0, 1.0)

    def _apply_contrast(self, img: torch.Tensor) -> torch.Tensor:
        mean = img.mean()
        return (self.contrast_factor * img + (1.0 - self.contrast_factor) * mean).clamp(0.0, 1.0)

    def _apply(self, img: torch.Tensor) -> torch.Tensor:
        steps = (self._apply_brightness, self._apply_contrast)
        for step in steps if self.brightness_first else steps[::-1]:
            img = step(img)
        return img


class RandGaussianBlur(_RandFloatImageTransform):
    """Random isotropic Gaussian blur, sigma ``~ U(sigma[0], sigma[1])`` [DV2] (see :func:`gaussian_blur`).

    Args:
        prob: probability of blurring. [DV2] intends 1.0 / 0.1 / 0.5 for global 1 / global 2 / local views, but its
            ``GaussianBlur`` wrapper passes ``1 - p`` to ``RandomApply``, so the released code blurs with
            0.0 / 0.9 / 0.5 (dinov2 PR #411).
        sigma: range of the standard deviation in pixels; [DV2] (0.1, 2.0).
        kernel_size: odd kernel size; [DV2] 9.

    Example:
        >>> RandGaussianBlur(prob=1.0).set_random_state(0)(torch.rand(1, 16, 16)).shape
        torch.Size([1, 16, 16])
    """

    def __init__(self, prob: float = 0.5, sigma: Sequence[float] = (0.1, 2.0), kernel_size: int = 9) -> None:
        RandomizableTransform.__init__(self, prob)
        if len(sigma) != 2 or not 0 < sigma[0] <= sigma[1]:
            raise ValueError(f"sigma must be a (low, high) pair with 0 < low <= high, got {tuple(sigma)}.")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}.")
        self.sigma = (float(sigma[0]), float(sigma[1]))
        self.kernel_size = kernel_size
        self.sigma_value = self.sigma[0]

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if self._do_transform:
            self.sigma_value = self.R.uniform(*self.sigma)

    def _apply(self, img: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(img, self.sigma_value, self.kernel_size)


class RandSolarize(_RandFloatImageTransform):
    """Random solarisation: ``x -> max_value - x`` where ``x >= threshold`` (torchvision ``solarize``).

    Args:
        prob: probability of solarising; [DV2] 0.2, on the second global view only.
        threshold: [DV2] ``RandomSolarize(threshold=128)`` on 8-bit images, i.e. 128/255 on [0, 1] images.
        max_value: intensity maximum (1.0 for the [0, 1] image contract).

    Example:
        >>> RandSolarize(prob=1.0)(torch.tensor([[[0.2, 0.9]]]))
        tensor([[[0.2000, 0.1000]]])
    """

    def __init__(self, prob: float = 0.2, threshold: float = 128.0 / 255.0, max_value: float = 1.0) -> None:
        RandomizableTransform.__init__(self, prob)
        self.threshold = threshold
        self.max_value = max_value

    def _apply(self, img: torch.Tensor) -> torch.Tensor:
        return torch.where(img >= self.threshold, self.max_value - img, img)


class _SharedDrawd(RandomizableTransform, MapTransform):
    """Dictionary wrapper: one draw of ``self.transform`` applied to every key (MONAI ``Rand*d`` pattern)."""

    transform: RandBrightnessContrast | RandGaussianBlur | RandSolarize

    def __init__(self, keys: KeysCollection, prob: float, allow_missing_keys: bool) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> _SharedDrawd:
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.transform.randomize(None)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key], randomize=False)
        return d


class RandBrightnessContrastd(_SharedDrawd):
    """Dictionary version of :class:`RandBrightnessContrast`; all keys share one draw.

    Args:
        keys: keys of the images to jitter.
        prob, brightness, contrast: see :class:`RandBrightnessContrast`.
        allow_missing_keys: don't raise if a key is missing.
    """

    backend = RandBrightnessContrast.backend

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.8,
        brightness: float = 0.4,
        contrast: float = 0.4,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.transform = RandBrightnessContrast(prob=1.0, brightness=brightness, contrast=contrast)


class RandGaussianBlurd(_SharedDrawd):
    """Dictionary version of :class:`RandGaussianBlur`; all keys share one sigma.

    Args:
        keys: keys of the images to blur.
        prob, sigma, kernel_size: see :class:`RandGaussianBlur`.
        allow_missing_keys: don't raise if a key is missing.
    """

    backend = RandGaussianBlur.backend

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.5,
        sigma: Sequence[float] = (0.1, 2.0),
        kernel_size: int = 9,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.transform = RandGaussianBlur(prob=1.0, sigma=sigma, kernel_size=kernel_size)


class RandSolarized(_SharedDrawd):
    """Dictionary version of :class:`RandSolarize`; all keys are solarised together or not at all.

    Args:
        keys: keys of the images to solarise.
        prob, threshold, max_value: see :class:`RandSolarize`.
        allow_missing_keys: don't raise if a key is missing.
    """

    backend = RandSolarize.backend

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.2,
        threshold: float = 128.0 / 255.0,
        max_value: float = 1.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.transform = RandSolarize(prob=1.0, threshold=threshold, max_value=max_value)


RandBrightnessContrastD = RandBrightnessContrastDict = RandBrightnessContrastd
RandGaussianBlurD = RandGaussianBlurDict = RandGaussianBlurd
RandSolarizeD = RandSolarizeDict = RandSolarized

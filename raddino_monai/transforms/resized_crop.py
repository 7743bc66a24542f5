"""Random resized crop with torchvision ``RandomResizedCrop`` semantics (array + dictionary pair).

The crop's *area* fraction is ``~ U(scale)`` of the image area and its aspect ratio log-uniform in ``ratio`` (10
tries, then a central crop; :func:`raddino_monai.transforms.multicrop.sample_area_box`), and the crop is resized to
``size x size``, bilinear and antialiased (torchvision's default for tensors). MONAI's ``RandSpatialCrop`` /
``RandScaleCrop`` draw side lengths independently and have no aspect-ratio law, so they do not reproduce it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import TransformBackends, convert_to_tensor

from raddino_monai.transforms.multicrop import CropBox, sample_area_box

__all__ = ["RandResizedCrop", "RandResizedCropd"]

_MODES = ("bilinear", "bicubic", "nearest-exact", "area")


class RandResizedCrop(RandomizableTransform):
    """Crop a random area fraction ``~ U(scale)`` with aspect ``~ log-U(ratio)`` and resize it to ``size``.

    Args:
        size: output side ``S`` (square output).
        scale: area fraction range, ``0 < low <= high <= 1``; torchvision default (0.08, 1.0).
        ratio: width / height range, ``0 < low <= high``; torchvision default (3/4, 4/3).
        mode: interpolation, one of ``"bilinear"`` (torchvision default), ``"bicubic"``, ``"nearest-exact"``,
            ``"area"``; bilinear and bicubic are antialiased.

    Raises:
        ValueError: invalid ``size``, ``scale``, ``ratio`` or ``mode`` (valid modes listed); an input that is not a
            ``(C, H, W)`` float image.

    Example:
        >>> RandResizedCrop(32, scale=(0.6, 1.0)).set_random_state(0)(torch.rand(1, 80, 60)).shape
        torch.Size([1, 32, 32])
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        size: int,
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        mode: str = "bilinear",
    ) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        if int(size) < 1:
            raise ValueError(f"size must be >= 1, found {size}.")
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high <= 1, found {tuple(scale)}.")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"ratio must be (low, high) with 0 < low <= high, found {tuple(ratio)}.")
        if mode not in _MODES:
            raise ValueError(f"Unknown mode {mode!r}; valid values are {list(_MODES)}.")
        self.size = int(size)
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.mode = mode
        self.box: CropBox | None = None

    def randomize(self, data: Sequence[int]) -> None:
        """Draw the crop box. Args: data: spatial shape ``(H, W)`` of the input."""
        self.box = sample_area_box(self.R, data, self.scale, self.ratio)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> torch.Tensor:
        """Args: img: ``(C, H, W)`` float image; randomize: draw a new box (``False`` reuses the last one).
        Returns: ``(C, size, size)`` plain tensor (meta is dropped: the geometry changed)."""
        image = convert_to_tensor(img, track_meta=False)
        if image.ndim != 3 or not torch.is_floating_point(image):
            raise ValueError(f"RandResizedCrop expects a (C, H, W) float image, found {tuple(image.shape)} {image.dtype}.")
        if randomize:
            self.randomize(image.shape[-2:])
        elif self.box is None:
            raise RuntimeError("RandResizedCrop(randomize=False) needs a previous randomize() call.")
        top, left, height, width = self.box  # type: ignore[misc]
        crop = image[None, :, top : top + height, left : left + width]
        extra = {"antialias": True, "align_corners": False} if self.mode in ("bilinear", "bicubic") else {}
        return F.interpolate(crop, size=(self.size, self.size), mode=self.mode, **extra)[0]


class RandResizedCropd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandResizedCrop`: one box for every key (image and mask stay aligned).

    Args:
        keys: keys to crop.
        size, scale, ratio: see :class:`RandResizedCrop`.
        mode: one interpolation mode, or one per key (e.g. ``("bilinear", "nearest-exact")`` for image and mask).
        allow_missing_keys: don't raise if a key is missing.

    Example:
        >>> out = RandResizedCropd("image", 32).set_random_state(0)({"image": torch.rand(1, 80, 60)})
        >>> tuple(out["image"].shape)
        (1, 32, 32)
    """

    backend = RandResizedCrop.backend

    def __init__(
        self,
        keys: KeysCollection,
        size: int,
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        mode: str | Sequence[str] = "bilinear",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        modes = [mode] * len(self.keys) if isinstance(mode, str) else list(mode)
        if len(modes) != len(self.keys):
            raise ValueError(f"mode needs one value or one per key ({len(self.keys)}), found {modes}.")
        self.croppers = [RandResizedCrop(size, scale, ratio, m) for m in modes]

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandResizedCropd:
        super().set_random_state(seed, state)
        for cropper in self.croppers:
            cropper.set_random_state(state=self.R)
        return self

    def randomize(self, data: Sequence[int]) -> None:
        """Draw one box for all keys. Args: data: spatial shape ``(H, W)``."""
        self.croppers[0].randomize(data)
        for cropper in self.croppers[1:]:
            cropper.box = self.croppers[0].box

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        keys = list(self.key_iterator(d))
        if not keys:
            return d
        shapes = {tuple(convert_to_tensor(d[k]).shape[-2:]) for k in keys}
        if len(shapes) != 1:
            raise ValueError(f"RandResizedCropd keys {keys} have different spatial shapes {sorted(shapes)}.")
        self.randomize(shapes.pop())
        for key, cropper in zip(self.keys, self.croppers):
            if key in d:
                d[key] = cropper(d[key], randomize=False)
        return d


RandResizedCropD = RandResizedCropDict = RandResizedCropd

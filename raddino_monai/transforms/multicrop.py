"""DINO multi-crop views: :class:`MultiCrop` / :class:`MultiCropd` (their recipes, :class:`MultiCropConfig`, and the
crop samplers are in :mod:`.multicrop_config`).

One Randomizable transform makes every view of an image, each with its own draw: ``n_global`` global crops for
teacher and student and ``n_local`` local crops for the student. Per view, following [DV2]
``data/augmentations.py``: random resized crop (bicubic, antialiased) -> horizontal flip -> brightness/contrast
jitter -> optional gamma -> Gaussian blur (per-view probability) -> solarize (global views only, by default the
second) -> channel repeat -> normalisation.

Why not a chain of MONAI dictionary transforms: one dict transform on several keys shares one draw (identical
views) and ``RandSpatialCropSamplesd`` flattens its samples into the batch, so neither gives DINO views
(monai_bundle_label.md section 5).

Example:
    >>> views = MultiCrop(MultiCropConfig.tiny(), seed=0)(torch.rand(1, 160, 128))
    >>> len(views["global_crops"]), tuple(views["global_crops"][0].shape), tuple(views["local_crops"][0].shape)
    (2, (3, 112, 112), (3, 48, 48))
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, RandAdjustContrast, RandomizableTransform
from monai.utils import TransformBackends, convert_to_tensor

from raddino_monai.transforms.intensity import RandBrightnessContrast, RandGaussianBlur, RandSolarize
from raddino_monai.transforms.multicrop_config import (  # noqa: F401 (sample_*_box: part of this module's API)
    _INTERPOLATION_KWARGS,
    CROP_SAMPLERS,
    CropBox,
    MultiCropConfig,
    as_multicrop_config,
    sample_area_box,
    sample_side_box,
)

__all__ = ["CROP_SAMPLERS", "CropBox", "MultiCrop", "MultiCropConfig", "MultiCropd", "ViewParams"]

@dataclass(frozen=True)
class ViewParams:
    """Spatial draw of one view: crop box ``(top, left, height, width)`` and horizontal flip."""

    box: CropBox
    flip: bool


class MultiCrop(RandomizableTransform):
    """Make all DINO views of one image, each with its own random draw.

    All draws come from one generator (``self.R``, shared with the per-view intensity transforms), so
    ``set_random_state`` fixes every view; :meth:`randomize` draws crops, flips and intensity parameters of all
    views, and ``__call__(img, randomize=False)`` replays the last draw.

    Args:
        config: :class:`MultiCropConfig`, a mapping of its fields, or None for :meth:`MultiCropConfig.raddino`.
        seed: seed of the private generator (None: fresh entropy; MONAI's DataLoader reseeds per worker).

    Returns (``__call__``):
        ``{"global_crops": [n_global x (out_channels, G, G)], "local_crops": [n_local x (out_channels, L, L)]}``,
        plain float32 tensors (meta is dropped: the views no longer share the input's geometry).

    Raises:
        ValueError: if the image is not a float ``(C, H, W)`` tensor with C in {1, out_channels}.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, config: MultiCropConfig | Mapping[str, Any] | None = None, seed: int | None = None) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        self.config = cfg = as_multicrop_config(config)
        self._sampler = CROP_SAMPLERS[cfg.crop_mode]
        self._global_augs = [
            self._intensity_chain(cfg.global_blur_probs[i], cfg.global_solarize_probs[i]) for i in range(cfg.n_global)
        ]
        self._local_augs = [self._intensity_chain(cfg.local_blur_prob, 0.0) for _ in range(cfg.n_local)]
        self._mean = torch.tensor(cfg.mean, dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(cfg.std, dtype=torch.float32).view(-1, 1, 1)
        self.global_params: list[ViewParams] = []
        self.local_params: list[ViewParams] = []
        self.set_random_state(seed=seed)

    def _intensity_chain(self, blur_prob: float, solarize_prob: float) -> list[RandomizableTransform]:
        cfg = self.config
        chain: list[RandomizableTransform] = [
            RandBrightnessContrast(cfg.jitter_prob, cfg.brightness, cfg.contrast),
            RandAdjustContrast(prob=cfg.gamma_prob, gamma=cfg.gamma_range),
            RandGaussianBlur(blur_prob, cfg.blur_sigma, cfg.blur_kernel_size),
        ]
        if solarize_prob > 0:
            chain.append(RandSolarize(solarize_prob, cfg.solarize_threshold))
        return chain

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> MultiCrop:
        super().set_random_state(seed, state)
        for chain in self._global_augs + self._local_augs:
            for transform in chain:
                transform.set_random_state(state=self.R)
        return self

    def _draw_view(self, spatial_shape: Sequence[int], scale: tuple[float, float]) -> ViewParams:
        box = self._sampler(self.R, spatial_shape, scale, self.config.aspect_ratio)
        return ViewParams(box=box, flip=bool(self.R.rand() < self.config.flip_prob))

    def randomize(self, data: Sequence[int]) -> None:
        """Draw every view. Args: data: spatial shape ``(H, W)`` of the input image."""
        cfg = self.config
        self.global_params = [self._draw_view(data, cfg.global_scale) for _ in range(cfg.n_global)]
        self.local_params = [self._draw_view(data, cfg.local_scale) for _ in range(cfg.n_local)]
        for chain in self._global_augs + self._local_augs:
            for transform in chain:
                transform.randomize(None)

    def _check_image(self, img: NdarrayOrTensor) -> torch.Tensor:
        image = convert_to_tensor(img, track_meta=False)
        if image.ndim != 3 or image.shape[0] not in (1, self.config.out_channels):
            raise ValueError(
                f"MultiCrop expects a (C, H, W) image with C in {{1, {self.config.out_channels}}}, "
                f"got shape {tuple(image.shape)}."
            )
        if not torch.is_floating_point(image):
            raise ValueError(f"MultiCrop expects a float image in [0, 1], got dtype {image.dtype}.")
        return image.float()

    def _make_view(
        self, image: torch.Tensor, params: ViewParams, size: int, chain: list[RandomizableTransform]
    ) -> torch.Tensor:
        top, left, height, width = params.box
        crop = image[None, :, top : top + height, left : left + width]
        kwargs = _INTERPOLATION_KWARGS[self.config.interpolation]
        view = F.interpolate(crop, size=(size, size), mode=self.config.interpolation, **kwargs)[0].clamp_(0.0, 1.0)
        if params.flip:
            view = view.flip(-1)
        for transform in chain:
            view = transform(view, randomize=False)
        view = convert_to_tensor(view, track_meta=False)
        if self.config.normalize:  # broadcasting (1 or C, S, S) against (C, 1, 1) also repeats grey channels
            return (view - self._mean.to(view.device)) / self._std.to(view.device)
        return view.expand(self.config.out_channels, -1, -1).contiguous()

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> dict[str, list[torch.Tensor]]:
        """Args: img: ``(C, H, W)`` float image in [0, 1], C = 1 or ``out_channels``. Returns: see class doc."""
        image = self._check_image(img)
        if randomize:
            self.randomize(image.shape[-2:])
        elif not self.global_params:
            raise RuntimeError("MultiCrop(randomize=False) needs a previous randomize() call.")
        cfg = self.config
        return {
            "global_crops": [
                self._make_view(image, p, cfg.global_size, c) for p, c in zip(self.global_params, self._global_augs)
            ],
            "local_crops": [
                self._make_view(image, p, cfg.local_size, c) for p, c in zip(self.local_params, self._local_augs)
            ],
        }


class MultiCropd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`MultiCrop`: ``data[key]`` -> ``data[global_key]``, ``data[local_key]``.

    Args:
        keys: the single image key (e.g. ``"image"``).
        config: see :class:`MultiCrop`.
        global_key: output key of the list of global views.
        local_key: output key of the list of local views.
        delete_keys: remove the source image, whose varying size would break collation.
        allow_missing_keys: return the dict unchanged when the key is missing.
        seed: see :class:`MultiCrop`.

    Raises:
        ValueError: if ``keys`` names more than one key.

    Example:
        >>> out = MultiCropd("image", MultiCropConfig.tiny(), seed=0)({"image": torch.rand(1, 128, 128)})
        >>> sorted(out)
        ['global_crops', 'local_crops']
    """

    backend = MultiCrop.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        config: MultiCropConfig | Mapping[str, Any] | None = None,
        global_key: str = "global_crops",
        local_key: str = "local_crops",
        delete_keys: bool = True,
        allow_missing_keys: bool = False,
        seed: int | None = None,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        if len(self.keys) != 1:
            raise ValueError(f"MultiCropd takes exactly one image key, got {list(self.keys)}.")
        self.multicrop = MultiCrop(config)
        self.global_key = global_key
        self.local_key = local_key
        self.delete_keys = delete_keys
        self.set_random_state(seed=seed)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> MultiCropd:
        super().set_random_state(seed, state)
        self.multicrop.set_random_state(state=self.R)
        return self

    def randomize(self, data: Sequence[int]) -> None:
        """Draw every view. Args: data: spatial shape ``(H, W)``."""
        self.multicrop.randomize(data)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            views = self.multicrop(d[key])
            d[self.global_key] = views["global_crops"]
            d[self.local_key] = views["local_crops"]
            if self.delete_keys:
                del d[key]
        return d


MultiCropD = MultiCropDict = MultiCropd

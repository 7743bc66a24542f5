"""DINO multi-crop views: :class:`MultiCrop` / :class:`MultiCropd` and their :class:`MultiCropConfig` presets.

One Randomizable transform makes every view of an image, each with its own draw: ``n_global`` global crops for
teacher and student and ``n_local`` local crops for the student. Per view, following [DV2]
``data/augmentations.py``: random resized crop (bicubic, antialiased) -> horizontal flip -> brightness/contrast
jitter -> optional gamma -> Gaussian blur (per-view probability) -> solarize (global views only, by default the
second) -> channel repeat -> normalisation.

Why not a chain of MONAI dictionary transforms: one dict transform on several keys shares one draw (identical
views) and ``RandSpatialCropSamplesd`` flattens its samples into the batch, so neither gives DINO views
(monai_bundle_label.md section 5).

Crop sampling has two modes (:data:`CROP_SAMPLERS`):

* ``"area"``: torchvision ``RandomResizedCrop.get_params`` -- area fraction ``~ U(scale)`` of the image area,
  log-uniform aspect ratio, 10 tries, central-crop fallback [DV2].
* ``"side"``: crop side ``~ U(scale) * short side`` (RAD-DINO's "U(259, 518) of a 518 image" [PAPER]), then the
  aspect ratio; height and width are clipped to the image.

Example:
    >>> views = MultiCrop(MultiCropConfig.tiny(), seed=0)(torch.rand(1, 160, 128))
    >>> len(views["global_crops"]), tuple(views["global_crops"][0].shape), tuple(views["local_crops"][0].shape)
    (2, (3, 112, 112), (3, 48, 48))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
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

__all__ = ["CROP_SAMPLERS", "CropBox", "MultiCrop", "MultiCropConfig", "MultiCropd", "ViewParams"]

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


def as_multicrop_config(config: MultiCropConfig | Mapping[str, Any] | None) -> MultiCropConfig:
    """Accept a config, a mapping of its fields (bundle JSON) or None (:meth:`MultiCropConfig.raddino`)."""
    if config is None:
        return MultiCropConfig.raddino()
    if isinstance(config, MultiCropConfig):
        return config
    valid = {f.name for f in dataclasses.fields(MultiCropConfig)}
    unknown = sorted(set(config) - valid)
    if unknown:
        raise ValueError(f"Unknown MultiCropConfig field(s) {unknown}; valid fields are {sorted(valid)}.")
    return MultiCropConfig(**config)


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

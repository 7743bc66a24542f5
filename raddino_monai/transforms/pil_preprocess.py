"""RAD-DINO preprocessing that reproduces transformers' ``BitImageProcessor`` (PIL backend) bit for bit.

microsoft/rad-dino is used as ``AutoImageProcessor.from_pretrained(repo, use_fast=False)`` ([CARD], and the
``rad_dino`` package's ``RadDino``), i.e. the PIL/NumPy processor (transformers 5: ``BitImageProcessorPil``, 4.x:
``BitImageProcessor``). For one image its steps, read from transformers' ``image_processing_backends.PilBackend``
and ``image_transforms`` (``resize``, ``center_crop``, ``rescale``, ``normalize``), are:

1. ``convert_to_rgb``: a grey ``"L"`` image becomes three equal uint8 channels;
2. resize with PIL: ``Image.resize((w, h), BICUBIC)`` on the uint8 image (each pass rounds and clips to uint8), to
   ``get_resize_output_image_size(default_to_square=False)``: short side = 518, long side ``int(518 * long / short)``;
3. centre crop 518 x 518 with ``top = (H - 518) // 2``, ``left = (W - 518) // 2``;
4. rescale: ``uint8.astype(float64) * (1 / 255)``, then cast to float32;
5. normalise in float32: ``(x - float32(0.5307)) / float32(0.2583)``; channels first.

:class:`PILPreprocess` does exactly these steps on a ``LoadCXR`` image ``(C, H, W)`` in ``[0, 1]``: it first
quantises to the nearest uint8 level (``rint(x * 255)``), which recovers the stored values of every 8-bit file
(PNG, JPEG, 8-bit DICOM) exactly. So for 8-bit grey inputs the output equals the processor's on the same file, to the
last bit (tested on every sample image and both sample DICOMs). For 16-bit inputs it equals the processor applied
to the image quantised to 8 bits, which is the model card's own offline step ([CARD]: "min-max scaled to [0, 255],
saved as PNG"); the processor itself cannot read 16-bit PNGs correctly (PIL's ``convert("RGB")`` clips them).
RGB files are loaded as grey luma by ``LoadCXR``; a grey radiograph stored as RGB (equal channels) gives the same
result, a coloured image does not.

``fit="pad"`` and ``fit="resize"`` keep the whole image with the same PIL resize (these have no processor
counterpart). The output keeps the input's meta; it records no inverse (use the ``"torch"`` backend of
:func:`raddino_monai.transforms.raddino_preprocessing` where ``Invertd`` is needed).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from PIL import Image

from raddino_monai.transforms.preprocess_config import RADDINO_PREPROCESS, shortest_edge_size

__all__ = ["PIL_FITS", "PILPreprocess", "PILPreprocessd", "quantize_uint8"]


def quantize_uint8(image: np.ndarray) -> np.ndarray:
    """``[0, 1]`` floats -> nearest uint8 level (``rint(x * 255)``, clipped); exact for 8-bit sources.

    Example:
        >>> quantize_uint8(np.array([0.0, 128 / 255, 1.0], dtype=np.float32)).tolist()
        [0, 128, 255]
    """
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def _pil_resize(channels: np.ndarray, out_hw: tuple[int, int], resample: int) -> np.ndarray:
    """PIL resize of each uint8 ``(H, W)`` channel of ``(C, H, W)`` (PIL resizes the channels of an RGB image
    independently with the same kernel, so this equals resizing the RGB image)."""
    if tuple(channels.shape[-2:]) == out_hw:
        return channels.copy()
    size = (int(out_hw[1]), int(out_hw[0]))  # PIL takes (width, height)
    return np.stack([np.asarray(Image.fromarray(c).resize(size, resample=resample)) for c in channels])


def _crop(arr: np.ndarray, size: int, resample: int) -> tuple[np.ndarray, tuple[int, int]]:
    resized = _pil_resize(arr, shortest_edge_size(tuple(arr.shape[-2:]), size), resample)
    top, left = (resized.shape[-2] - size) // 2, (resized.shape[-1] - size) // 2  # transformers center_crop
    return resized[:, top : top + size, left : left + size], (-top, -left)


def _stretch(arr: np.ndarray, size: int, resample: int) -> tuple[np.ndarray, tuple[int, int]]:
    return _pil_resize(arr, (size, size), resample), (0, 0)


def _pad(arr: np.ndarray, size: int, resample: int) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = (int(s) for s in arr.shape[-2:])
    long = max(h, w)
    out_hw = (max(1, round(h * size / long)), max(1, round(w * size / long)))  # as FitToSquare(mode="pad")
    resized = _pil_resize(arr, out_hw, resample)
    dh, dw = size - out_hw[0], size - out_hw[1]
    pad = ((0, 0), (dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2))
    return np.pad(resized, pad, constant_values=int(resized.min())), (dh // 2, dw // 2)


#: fit mode -> ``(uint8 (C, H, W), size, resample) -> (uint8 (C, size, size), (row, col) offset of the resized image)``
PIL_FITS: dict[str, Callable[[np.ndarray, int, int], tuple[np.ndarray, tuple[int, int]]]] = {
    "crop": _crop,
    "pad": _pad,
    "resize": _stretch,
}


class PILPreprocess(Transform):
    """``LoadCXR`` image ``(C, H, W)`` in ``[0, 1]`` -> ``(channels, size, size)`` float32, as ``BitImageProcessor``.

    Args:
        size: output side (resize target and crop side; [HF] 518).
        fit: one of :data:`PIL_FITS`; ``"crop"`` is the processor, ``"pad"`` / ``"resize"`` keep the whole image.
        mean: normalisation mean ([HF] 0.5307).
        std: normalisation std ([HF] 0.2583).
        channels: output channels; a single input channel is repeated ([HF] ``do_convert_rgb``: 3).
        resample: PIL resampling filter ([HF] ``resample: 3`` = bicubic).
        rescale_factor: [HF] ``1/255``.

    Raises:
        ValueError: unknown ``fit`` (valid values listed), ``size < 1`` or ``channels < 1``; at call time an input
            that is not ``(C, H, W)`` or whose channel count is neither 1 nor ``channels``.

    Example:
        >>> tuple(PILPreprocess(518)(torch.rand(1, 300, 200)).shape)
        (3, 518, 518)
    """

    def __init__(
        self,
        size: int = RADDINO_PREPROCESS.size,
        fit: str = "crop",
        mean: float = RADDINO_PREPROCESS.mean,
        std: float = RADDINO_PREPROCESS.std,
        channels: int = RADDINO_PREPROCESS.channels,
        resample: int = RADDINO_PREPROCESS.resample,
        rescale_factor: float = RADDINO_PREPROCESS.rescale_factor,
    ) -> None:
        if fit not in PIL_FITS:
            raise ValueError(f"PILPreprocess: fit must be one of {list(PIL_FITS)}, got {fit!r}")
        if int(size) < 1 or int(channels) < 1:
            raise ValueError(f"PILPreprocess: size and channels must be >= 1, got {size} and {channels}")
        self.size, self.fit, self.channels = int(size), fit, int(channels)
        self.mean, self.std = float(mean), float(std)
        self.resample, self.rescale_factor = int(resample), float(rescale_factor)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Args: img: ``(C, H, W)`` in ``[0, 1]``. Returns: ``(channels, size, size)`` float32 (MetaTensor in,
        MetaTensor out with the meta kept)."""
        data = img.as_tensor() if isinstance(img, MetaTensor) else torch.as_tensor(img)
        if data.ndim != 3 or data.shape[0] not in (1, self.channels):
            raise ValueError(
                f"PILPreprocess: expected (C, H, W) with C = 1 or {self.channels}, got shape {tuple(data.shape)}"
            )
        in_hw = tuple(int(s) for s in data.shape[-2:])
        fitted, offset = PIL_FITS[self.fit](quantize_uint8(data.detach().cpu().numpy()), self.size, self.resample)
        scaled = (fitted.astype(np.float64) * self.rescale_factor).astype(np.float32)  # transformers rescale
        out = (scaled - np.float32(self.mean)) / np.float32(self.std)  # transformers normalize, float32
        if out.shape[0] == 1 and self.channels > 1:
            out = np.repeat(out, self.channels, axis=0)
        result = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
        if not isinstance(img, MetaTensor):
            return result
        meta_out = MetaTensor(result)
        meta_out.copy_meta_from(img)
        meta_out.affine = _affine(img, in_hw, self._resized_hw(in_hw), offset)
        return meta_out

    def _resized_hw(self, in_hw: tuple[int, int]) -> tuple[int, int]:
        if self.fit == "crop":
            return shortest_edge_size(in_hw, self.size)
        if self.fit == "resize":
            return self.size, self.size
        long = max(in_hw)
        return max(1, round(in_hw[0] * self.size / long)), max(1, round(in_hw[1] * self.size / long))


def _affine(img: MetaTensor, in_hw: tuple[int, int], out_hw: tuple[int, int], offset: tuple[int, int]) -> torch.Tensor:
    """2-D affine of the output: pixel centres scaled like the resize, then shifted by the crop / pad offset."""
    affine = img.affine.to(torch.float64)
    if affine.shape[0] != 3:
        return affine
    step = torch.eye(3, dtype=torch.float64)
    scale = torch.tensor([in_hw[0] / out_hw[0], in_hw[1] / out_hw[1]], dtype=torch.float64)
    step[0, 0], step[1, 1] = scale[0], scale[1]
    step[:2, 2] = (scale - 1.0) / 2.0
    shift = torch.eye(3, dtype=torch.float64)
    shift[:2, 2] = -torch.tensor(offset, dtype=torch.float64)
    return affine @ step @ shift


class PILPreprocessd(MapTransform):
    """Dictionary version of :class:`PILPreprocess` (same arguments plus ``keys``, ``allow_missing_keys``)."""

    def __init__(
        self,
        keys: KeysCollection,
        size: int = RADDINO_PREPROCESS.size,
        fit: str = "crop",
        mean: float = RADDINO_PREPROCESS.mean,
        std: float = RADDINO_PREPROCESS.std,
        channels: int = RADDINO_PREPROCESS.channels,
        resample: int = RADDINO_PREPROCESS.resample,
        rescale_factor: float = RADDINO_PREPROCESS.rescale_factor,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = PILPreprocess(size, fit, mean, std, channels, resample, rescale_factor)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:  # type: ignore[override]
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key])
        return d

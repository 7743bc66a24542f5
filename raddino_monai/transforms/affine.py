"""MONAI ``RandAffine`` / ``RandAffined`` with one isotropic zoom factor (torchvision ``RandomAffine`` scaling).

MONAI draws an independent scale per axis and applies it to the sampling grid (backward mapping: a grid scale ``s``
shrinks the content by ``1/s``). torchvision's ``RandomAffine(scale=(a, b))`` draws *one* content zoom
``z ~ U(a, b)`` for both axes. These subclasses keep MONAI's rotation, translation, resampling and dictionary handling
and replace only the scale draw (:class:`IsotropicZoomAffineGrid`): ``z ~ U(zoom_range)``, grid scale ``1/z`` on every
axis, so the image
content is magnified by exactly ``z``. Rotation and translation ranges are MONAI's (radians, pixels; symmetric ranges
give the same laws as torchvision's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monai.config import KeysCollection
from monai.transforms import RandAffine, RandAffined
from monai.transforms.spatial.array import RandAffineGrid

__all__ = ["IsotropicZoomAffineGrid", "RandIsotropicAffine", "RandIsotropicAffined"]


def _check_zoom(zoom_range: Sequence[float]) -> tuple[float, float]:
    if len(zoom_range) != 2 or not 0 < zoom_range[0] <= zoom_range[1]:
        raise ValueError(f"zoom_range must be (low, high) with 0 < low <= high, found {tuple(zoom_range)}.")
    return float(zoom_range[0]), float(zoom_range[1])


class IsotropicZoomAffineGrid(RandAffineGrid):
    """MONAI ``RandAffineGrid`` whose scale is one zoom ``z ~ U(zoom_range)`` on every axis (grid scale ``1/z``).

    All draws happen in :meth:`randomize` from ``self.R`` (MONAI redraws the grid inside ``RandAffine.__call__``, so
    the zoom has to be drawn here, not in ``RandAffine.randomize``).
    """

    def __init__(self, zoom_range: Sequence[float] = (1.0, 1.0), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.zoom_range = _check_zoom(zoom_range)
        self.zoom = 1.0

    def randomize(self, data: Any | None = None) -> None:
        super().randomize(data)
        self.zoom = float(self.R.uniform(*self.zoom_range))
        # MONAI's create_scale truncates / pads the list to the image's spatial dims (2-D or 3-D)
        self.scale_params = [1.0 / self.zoom] * 3


class RandIsotropicAffine(RandAffine):
    """Random rotation + translation + isotropic zoom (2-D or 3-D), one resampling.

    Args:
        prob: probability of applying the transform.
        rotate_range: rotation range in radians (MONAI semantics, ``U(-r, r)`` for a float).
        translate_range: translation range in pixels per axis (MONAI semantics).
        zoom_range: content zoom ``z ~ U(low, high)``, the same on every axis (torchvision ``scale``).
        mode: interpolation mode (MONAI ``RandAffine``).
        padding_mode: ``"zeros"`` (torchvision's fill 0), ``"border"`` or ``"reflection"``.
        kwargs: other ``RandAffine`` arguments except ``scale_range`` and ``shear_range``.

    Raises:
        ValueError: invalid ``zoom_range``.

    Example:
        >>> t = RandIsotropicAffine(prob=1.0, zoom_range=(1.05, 1.05)).set_random_state(0)
        >>> tuple(t(torch.rand(1, 32, 32)).shape)
        (1, 32, 32)
    """

    def __init__(
        self,
        prob: float = 0.1,
        rotate_range: Any = None,
        translate_range: Any = None,
        zoom_range: Sequence[float] = (1.0, 1.0),
        mode: str = "bilinear",
        padding_mode: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            prob=prob, rotate_range=rotate_range, translate_range=translate_range, mode=mode,
            padding_mode=padding_mode, **kwargs,
        )
        grid = self.rand_affine_grid
        self.rand_affine_grid = IsotropicZoomAffineGrid(
            zoom_range, rotate_range=rotate_range, translate_range=translate_range, device=grid.device,
            dtype=grid.dtype, lazy=grid.lazy,
        )

    @property
    def zoom(self) -> float:
        """The content zoom of the last draw."""
        return self.rand_affine_grid.zoom


class RandIsotropicAffined(RandAffined):
    """Dictionary version of :class:`RandIsotropicAffine`: one draw for every key (MONAI ``RandAffined`` handling).

    Args:
        keys: keys to transform.
        prob, rotate_range, translate_range, zoom_range: see :class:`RandIsotropicAffine`.
        mode: interpolation mode, one or one per key (e.g. ``("bilinear", "nearest")``).
        padding_mode: padding mode, one or one per key.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.1,
        rotate_range: Any = None,
        translate_range: Any = None,
        zoom_range: Sequence[float] = (1.0, 1.0),
        mode: str | Sequence[str] = "bilinear",
        padding_mode: str | Sequence[str] = "zeros",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(
            keys, prob=prob, rotate_range=rotate_range, translate_range=translate_range, mode=mode,
            padding_mode=padding_mode, allow_missing_keys=allow_missing_keys,
        )
        self.rand_affine = RandIsotropicAffine(
            prob=1.0, rotate_range=rotate_range, translate_range=translate_range, zoom_range=zoom_range
        )


RandIsotropicAffineD = RandIsotropicAffineDict = RandIsotropicAffined

"""Deprecated location: the seeded sampler and dataset moved to :mod:`raddino_monai.data.samplers`, the collate to
:class:`raddino_monai.data.collate.SSLCollate` (batch assembly lives in ``data/``).

Importing a name from here still works and emits a ``DeprecationWarning`` naming the new location.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from raddino_monai._compat import moved_names
from raddino_monai.data.collate import SSLCollate
from raddino_monai.data.masking import MaskingConfig

__getattr__ = moved_names(__name__)


def SeededSSLCollate(  # noqa: N802 (keeps the old class name callable)
    patch_size: int,
    mask_probability: float | None = None,
    mask_ratio: Sequence[float] | None = None,
    seed: int = 0,
) -> SSLCollate:
    """Deprecated: ``SSLCollate(patch_size, MaskingConfig(mask_probability, mask_ratio), seed)``.

    Args:
        patch_size: ViT patch size.
        mask_probability: ``MaskingConfig.mask_sample_probability`` (``None``: its default).
        mask_ratio: ``MaskingConfig.mask_ratio_min_max`` (``None``: its default).
        seed: see :class:`~raddino_monai.data.collate.SSLCollate`.
    """
    warnings.warn("raddino_monai.engines.SeededSSLCollate moved to raddino_monai.data.collate.SSLCollate (masking "
                  "settings as a MaskingConfig); import it from there.", DeprecationWarning, stacklevel=2)
    given = {"mask_sample_probability": mask_probability, "mask_ratio_min_max": mask_ratio}
    return SSLCollate(patch_size, MaskingConfig(**{k: v for k, v in given.items() if v is not None}), seed=seed)

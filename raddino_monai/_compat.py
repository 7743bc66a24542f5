"""Deprecated import paths: one table of old location -> new location, served by module ``__getattr__`` hooks.

Modules and names that moved keep working from their old location for a deprecation period: the old module is a
thin file whose ``__getattr__`` is :func:`moved_names`, which imports the new location lazily (so no import-time
work and no import that runs up the package layers) and emits a ``DeprecationWarning`` naming it.

Example::

    >>> from raddino_monai.ssl.masking import sample_ibot_masks  # doctest: +SKIP
    DeprecationWarning: raddino_monai.ssl.masking.sample_ibot_masks moved to raddino_monai.data.masking.sample_ibot_masks
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

__all__ = ["MOVED", "moved_names", "resolve_moved"]

#: ``"old.module.Name"`` -> ``"new.module.Name"`` for every public name that moved in the 0.2 layout (issue 11).
MOVED: dict[str, str] = {
    # batch assembly: masking, collate and sampling live in data/ (dinov2/data layout)
    **{f"raddino_monai.ssl.masking.{n}": f"raddino_monai.data.masking.{n}" for n in (
        "MaskingGenerator", "IBOTMasks", "sample_ibot_masks", "masks_weight_from_masks", "dinov2_max_num_patches",
        "NumpyRNG")},
    **{f"raddino_monai.ssl.{n}": f"raddino_monai.data.masking.{n}" for n in (
        "MaskingGenerator", "IBOTMasks", "sample_ibot_masks", "masks_weight_from_masks", "dinov2_max_num_patches")},
    **{f"raddino_monai.engines.data_order.{n}": f"raddino_monai.data.samplers.{n}" for n in (
        "ResumableDistributedSampler", "SeededDataset", "derive_seed", "SEED_KEY")},
    **{f"raddino_monai.engines.{n}": f"raddino_monai.data.samplers.{n}" for n in (
        "ResumableDistributedSampler", "SeededDataset", "derive_seed", "SEED_KEY")},
}


def resolve_moved(old: str) -> object:
    """The object now at ``MOVED[old]``, with a ``DeprecationWarning`` naming the new location.

    Raises:
        KeyError: ``old`` is not a moved name.
    """
    new = MOVED[old]
    warnings.warn(f"{old} moved to {new}; import it from there (the old path will be removed).",
                  DeprecationWarning, stacklevel=3)
    module, _, name = new.rpartition(".")
    return getattr(importlib.import_module(module), name)


def moved_names(module: str) -> Callable[[str], object]:
    """A module ``__getattr__`` serving the names of :data:`MOVED` that left ``module``.

    Args:
        module: the old module's ``__name__``.

    Returns:
        ``__getattr__(name)``: the moved object (with a ``DeprecationWarning``), else ``AttributeError``.
    """

    def __getattr__(name: str) -> object:
        key = f"{module}.{name}"
        if key in MOVED:
            return resolve_moved(key)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

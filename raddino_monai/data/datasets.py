"""Dataset builders on MONAI ``Dataset`` / ``CacheDataset`` / ``PersistentDataset`` that skip unreadable files.

:func:`build_dataset` picks the MONAI dataset class from ``cache``:

* ``"memory"``: :class:`monai.data.CacheDataset`. It runs the *deterministic prefix* of the ``Compose`` (every
  transform before the first random one) once and keeps the result in RAM; each epoch only runs the rest. Put
  loading and downsizing first (``LoadCXRd`` -> resize / ``raddino_preprocessing``) and augmentations after them,
  so the cache holds small images and the augmentations stay random.
* ``"disk"``: :class:`monai.data.PersistentDataset`: the same prefix is saved as ``.pt`` files in ``cache_dir``
  (reloaded with ``torch.load(weights_only=True)``) so later runs start fast. Change ``cache_dir`` when the
  prefix transforms change: the cache key is the item, not the transforms.
* ``"none"``: :class:`monai.data.Dataset`, every transform runs every time.

With ``skip_bad_files=True`` every item is run through that prefix once while building (for ``"memory"`` this *is*
the caching, for ``"disk"`` it fills the disk cache, for ``"none"`` it is an extra read). Items whose loading
raises :class:`~raddino_monai.transforms.errors.CXRLoadError` (or ``FileNotFoundError``), also when MONAI wraps it
in a ``RuntimeError``, are dropped; each is logged with its path and reason (never patient identifiers) and
listed in ``dataset.bad_files``. Any other exception is a bug in the transforms and propagates.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from enum import Enum
from multiprocessing.pool import ThreadPool
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, Dataset, MetaTensor, PersistentDataset
from monai.transforms import Compose, RandomizableTrait, Transform
from tqdm import tqdm

from raddino_monai.data.bad_files import BadFile, as_bad_file

__all__ = ["BadFile", "CACHE_MODES", "build_dataset", "CXRDataset", "CXRCacheDataset", "CXRPersistentDataset"]

logger = logging.getLogger(__name__)


class _BadFiles:
    """Mixin: ``bad_files`` (list of :class:`BadFile`) and ``num_bad_files``."""

    bad_files: list[BadFile]

    @property
    def num_bad_files(self) -> int:
        """Number of items skipped because their file could not be loaded."""
        return len(self.bad_files)


class CXRDataset(_BadFiles, Dataset):
    """:class:`monai.data.Dataset` with the ``bad_files`` skipped by :func:`build_dataset`."""

    def __init__(self, data: Sequence[Any], transform: Callable | None, bad_files: Sequence[BadFile] = ()) -> None:
        super().__init__(data=data, transform=transform)
        self.bad_files = list(bad_files)


#: suffix of the item key that carries a MetaTensor's meta through the disk cache
_META_SUFFIX = "__cxr_meta"
_NDARRAY = "__ndarray__"


def _encode(value: Any) -> Any:
    """Meta / applied-operations value -> only types ``torch.load(weights_only=True)`` accepts (see :func:`_decode`).

    NumPy arrays become ``{"__ndarray__": tensor}``, NumPy scalars Python numbers, enums (MONAI's ``TraceKeys``,
    ``SpaceKeys``) their string value; containers are encoded recursively.
    """
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.ndarray):
        return {_NDARRAY: torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {_encode(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        encoded = [_encode(v) for v in value]
        return encoded if isinstance(value, list) else tuple(encoded)
    return value


def _decode(value: Any) -> Any:
    """Inverse of :func:`_encode` (enums stay plain strings; MONAI's string enums compare and hash equal to them)."""
    if isinstance(value, Mapping):
        if set(value) == {_NDARRAY}:
            return value[_NDARRAY].numpy()
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        decoded = [_decode(v) for v in value]
        return decoded if isinstance(value, list) else tuple(decoded)
    return value


class CXRPersistentDataset(_BadFiles, PersistentDataset):
    """:class:`monai.data.PersistentDataset` that keeps ``MetaTensor`` meta on cache hits, with ``bad_files``.

    Cached files are always read with ``torch.load(weights_only=True)``, which rejects NumPy arrays and MONAI enums
    (``spatial_shape``, ``applied_operations``), and MONAI 1.5 (the MONAI Label environment) saves ``MetaTensor``
    values as plain tensors. So each ``MetaTensor`` value of a dict item is cached as its plain tensor plus a
    ``{key}__cxr_meta`` entry holding its meta and applied operations encoded as tensors / Python values, and is
    rebuilt after loading: cache hits equal cache misses on every supported MONAI version.

    Args:
        args, kwargs: as for :class:`monai.data.PersistentDataset` (``weights_only=True`` is set where supported).
        bad_files: items skipped by :func:`build_dataset`.
    """

    def __init__(self, *args: Any, bad_files: Sequence[BadFile] = (), **kwargs: Any) -> None:
        if "weights_only" in inspect.signature(PersistentDataset.__init__).parameters:
            kwargs.setdefault("weights_only", True)  # MONAI 1.6; MONAI 1.5 hard-codes weights_only=True
        super().__init__(*args, **kwargs)
        self.weights_only = getattr(self, "weights_only", True)
        self.bad_files = list(bad_files)

    def _pre_transform(self, item_transformed: Any) -> Any:
        out = super()._pre_transform(item_transformed)
        if not isinstance(out, Mapping):
            return out
        split = dict(out)
        for key, value in out.items():
            if isinstance(value, MetaTensor):
                split[key] = value.as_tensor()
                split[f"{key}{_META_SUFFIX}"] = {
                    "meta": _encode(dict(value.meta)),
                    "applied_operations": _encode(list(value.applied_operations)),
                }
        return split

    def _post_transform(self, item_transformed: Any) -> Any:
        if isinstance(item_transformed, Mapping):
            item = dict(item_transformed)
            for key in [k for k in item if isinstance(k, str) and k.endswith(_META_SUFFIX)]:
                stored = item.pop(key)
                name = key[: -len(_META_SUFFIX)]
                item[name] = MetaTensor(
                    item[name], meta=_decode(stored["meta"]), applied_operations=_decode(stored["applied_operations"])
                )
            item_transformed = item
        return super()._post_transform(item_transformed)


class CXRCacheDataset(_BadFiles, CacheDataset):
    """:class:`monai.data.CacheDataset` that records load errors while caching and then drops those items.

    Args:
        args, kwargs: as for :class:`monai.data.CacheDataset`.
        skip_bad_files: catch load errors (see module docstring) while caching instead of raising.
        image_key: item key named in :class:`BadFile` when the error does not carry a path.
    """

    def __init__(self, *args: Any, skip_bad_files: bool = True, image_key: str = "image", **kwargs: Any) -> None:
        if skip_bad_files and (kwargs.get("runtime_cache") or kwargs.get("hash_as_key")):
            raise ValueError(
                "CXRCacheDataset: skip_bad_files=True needs the cache filled at construction "
                "(runtime_cache=False, hash_as_key=False)."
            )
        self._skip_bad_files = skip_bad_files
        self._image_key = image_key
        self.bad_files = []
        super().__init__(*args, **kwargs)

    def _load_cache_item(self, idx: int) -> Any:
        try:
            return super()._load_cache_item(idx)
        except Exception as err:  # noqa: BLE001 - re-raised below unless it is a load error to skip
            bad = as_bad_file(err, idx, self.data[idx], self._image_key) if self._skip_bad_files else None
            if bad is None:
                raise
            return bad

    def set_data(self, data: Sequence[Any]) -> None:
        """Cache ``data`` (see :meth:`monai.data.CacheDataset.set_data`) and drop the items that failed to load."""
        super().set_data(data)
        bad = [entry for entry in self._cache if isinstance(entry, BadFile)]
        self.bad_files = bad
        if not bad:
            return
        drop = {entry.index for entry in bad}
        self.data = [item for i, item in enumerate(self.data) if i not in drop]
        self._cache = [entry for entry in self._cache if not isinstance(entry, BadFile)]
        self.cache_num = len(self._cache)


def _prefix(transform: Compose) -> Callable[[Any], Any]:
    """The deterministic prefix of ``transform``, exactly as MONAI's cache datasets compute it."""
    first_random = transform.get_index_of_first(
        lambda t: isinstance(t, RandomizableTrait) or not isinstance(t, Transform)
    )
    return lambda item: transform(item, end=first_random, threading=True)


def _scan(
    items: Sequence[Any], run: Callable[[Any], Any], num_workers: int, image_key: str, desc: str
) -> list[BadFile]:
    """Run ``run`` on every item (threads) and collect the load errors."""

    def check(index: int) -> BadFile | None:
        try:
            run(items[index])
        except Exception as err:  # noqa: BLE001 - re-raised unless it is a load error
            bad = as_bad_file(err, index, items[index], image_key)
            if bad is None:
                raise
            return bad
        return None

    with ThreadPool(max(1, num_workers)) as pool:
        results = list(tqdm(pool.imap(check, range(len(items))), total=len(items), desc=desc, leave=False))
    return [bad for bad in results if bad is not None]


def _report(bad_files: Sequence[BadFile], total: int) -> None:
    for bad in bad_files:
        logger.warning("skipping unreadable file %s: %s", bad.path, bad.reason)
    if bad_files:
        logger.warning("skipped %d of %d datalist items whose file could not be loaded", len(bad_files), total)
    if total and len(bad_files) == total:
        raise ValueError(
            f"build_dataset: all {total} items failed to load, e.g. {bad_files[0].path}: {bad_files[0].reason}"
        )


def _build_memory(items: list[Any], transform: Compose, options: dict[str, Any]) -> Dataset:
    ds = CXRCacheDataset(
        data=items,
        transform=transform,
        cache_rate=options["cache_rate"],
        num_workers=max(1, options["num_workers"]),
        skip_bad_files=options["skip_bad_files"],
        image_key=options["image_key"],
    )
    uncached = ds.data[ds.cache_num :]
    if options["skip_bad_files"] and uncached:  # items beyond cache_rate were not loaded while caching
        first_uncached = ds.cache_num + ds.num_bad_files  # the dropped items all lay in the cached part
        late = _scan(uncached, _prefix(transform), options["num_workers"], options["image_key"], "Checking files")
        drop = {ds.cache_num + bad.index for bad in late}
        ds.data = [item for i, item in enumerate(ds.data) if i not in drop]
        ds.bad_files = ds.bad_files + [replace(bad, index=bad.index + first_uncached) for bad in late]
    return ds


def _build_disk(items: list[Any], transform: Compose, options: dict[str, Any]) -> Dataset:
    cache_dir = options["cache_dir"]
    if cache_dir is None:
        raise ValueError("build_dataset: cache='disk' needs cache_dir (a folder for the cached .pt files).")
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    ds = CXRPersistentDataset(data=items, transform=transform, cache_dir=cache_dir)
    if options["skip_bad_files"]:
        bad = _scan(items, ds._cachecheck, options["num_workers"], options["image_key"], "Caching to disk")
        drop = {b.index for b in bad}
        ds.data = [item for i, item in enumerate(items) if i not in drop]  # not set_data(): it wipes cache_dir
        ds.bad_files = bad
    return ds


def _build_none(items: list[Any], transform: Compose, options: dict[str, Any]) -> Dataset:
    bad: list[BadFile] = []
    if options["skip_bad_files"]:
        bad = _scan(items, _prefix(transform), options["num_workers"], options["image_key"], "Checking files")
    drop = {b.index for b in bad}
    return CXRDataset([item for i, item in enumerate(items) if i not in drop], transform, bad_files=bad)


CACHE_MODES: dict[str, Callable[[list[Any], Compose, dict[str, Any]], Dataset]] = {
    "memory": _build_memory,
    "disk": _build_disk,
    "none": _build_none,
}
"""``cache`` value -> builder used by :func:`build_dataset`."""


def build_dataset(
    items: Sequence[Mapping[str, Any]],
    transform: Compose | Sequence[Callable] | Callable,
    cache: str = "memory",
    cache_dir: str | os.PathLike[str] | None = None,
    cache_rate: float = 1.0,
    num_workers: int = 0,
    skip_bad_files: bool = True,
    image_key: str = "image",
) -> Dataset:
    """Build a MONAI dataset over datalist ``items``, caching the deterministic transforms and skipping bad files.

    Args:
        items: datalist items (see :mod:`raddino_monai.data.datalist`), e.g. ``[{"image": "/a.png", ...}]``.
        transform: a ``Compose`` (or a list of transforms / one callable, wrapped in ``Compose``); put
            ``LoadCXRd`` and resizing first, random augmentations after them (see module docstring).
        cache: ``"memory"`` (CacheDataset), ``"disk"`` (PersistentDataset) or ``"none"`` (Dataset).
        cache_dir: folder of the disk cache; required for ``cache="disk"``.
        cache_rate: share of the items cached in RAM for ``cache="memory"`` (the first ones).
        num_workers: threads used to cache / check files (0 or 1: one thread).
        skip_bad_files: drop (and log) items whose file cannot be loaded instead of failing later.
        image_key: item key holding the image path (used in :class:`BadFile` when the error has no path).

    Returns:
        a :class:`CXRCacheDataset`, :class:`CXRPersistentDataset` or :class:`CXRDataset` (MONAI datasets) with
        ``bad_files`` (list of :class:`BadFile`, indices into ``items``) and ``num_bad_files``.

    Raises:
        ValueError: for an unknown ``cache`` (valid values are listed), ``cache="disk"`` without ``cache_dir``, a
            ``cache_rate`` outside [0, 1], or when every item fails to load.

    Example:
        >>> from raddino_monai.data.sample_data import load_sample_datalist
        >>> from raddino_monai.transforms import LoadCXRd
        >>> ds = build_dataset(load_sample_datalist("validation"), [LoadCXRd(keys="image")], cache="none")
        >>> ds[0]["image"].shape[0], ds.num_bad_files
        (1, 0)
    """
    if cache not in CACHE_MODES:
        raise ValueError(f"build_dataset: cache must be one of {list(CACHE_MODES)}, got {cache!r}.")
    if not 0.0 <= float(cache_rate) <= 1.0:
        raise ValueError(f"build_dataset: cache_rate must be in [0, 1], got {cache_rate}.")
    compose = transform if isinstance(transform, Compose) else Compose(transform)
    options = {
        "cache_dir": cache_dir,
        "cache_rate": float(cache_rate),
        "num_workers": int(num_workers),
        "skip_bad_files": skip_bad_files,
        "image_key": image_key,
    }
    ds = CACHE_MODES[cache](list(items), compose, options)
    _report(ds.bad_files, len(items))
    return ds

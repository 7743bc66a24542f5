"""Resumable, worker-independent data order for SSL training: every random draw is a function of (seed, epoch, index).

Exact resume needs the batch stream after iteration ``k`` to be the same whether or not the run was interrupted.
Three pieces give that without pickling DataLoader iterators (this module holds the first two, in the place
[DV2] keeps its ``data/samplers.py``):

* :class:`ResumableDistributedSampler` -- a drop-in ``DistributedSampler`` replacement whose permutation depends only
  on ``(seed, epoch)``, which yields ``(epoch, index)`` pairs, and which can start an epoch part-way
  (:meth:`~ResumableDistributedSampler.resume`). Without a process group it behaves as a single-replica sampler.
* :class:`SeededDataset` -- wraps a MONAI/torch dataset and re-seeds its random transforms from
  ``(seed, epoch, index)`` before each item, so augmentations do not depend on worker count or position in the run;
* :class:`raddino_monai.data.collate.SSLCollate` draws the iBOT masks from the seeds of the batch's items.

Example::

    >>> ds = SeededDataset(monai.data.Dataset(items, transform=MultiCropd("image", cfg)), seed=0)
    >>> sampler = ResumableDistributedSampler(len(ds), seed=0)
    >>> loader = DataLoader(ds, batch_size=8, sampler=sampler, collate_fn=SSLCollate(patch_size=14))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler

__all__ = ["ResumableDistributedSampler", "SeededDataset", "derive_seed", "SEED_KEY"]

SEED_KEY = "sample_seed"
_MAX_SEED = 2**32 - 1


def derive_seed(*parts: int) -> int:
    """Stable 32-bit seed from integers (numpy ``SeedSequence`` hashing; independent of Python's hash seed)."""
    return int(np.random.SeedSequence([int(p) % (2**63) for p in parts]).generate_state(1)[0])


def _dist_info(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    active = dist.is_available() and dist.is_initialized()
    world = num_replicas if num_replicas is not None else (dist.get_world_size() if active else 1)
    r = rank if rank is not None else (dist.get_rank() if active else 0)
    if not 0 <= r < world:
        raise ValueError(f"rank must lie in [0, {world - 1}] for num_replicas={world}, found {r}.")
    return world, r


class ResumableDistributedSampler(Sampler):
    """Shuffled, rank-partitioned sampler yielding ``(epoch, index)``; deterministic in ``(seed, epoch)``.

    Each ``__iter__`` call is one epoch; the epoch counter advances by itself (``set_epoch`` also works). Rank ``r``
    takes positions ``r, r + R, r + 2R, ...`` of the epoch's permutation (padded by wrap-around to a multiple of
    ``R``, as ``DistributedSampler``), so ``R`` ranks with batch ``b`` see, batch for batch, the images of one
    process with batch ``R * b``.

    Args:
        data_source: the dataset or its length.
        shuffle: permute each epoch (``False`` keeps index order).
        seed: permutation seed (same on all ranks).
        num_replicas: number of ranks; default: the process group's world size (1 without one).
        rank: this rank; default: the process group's rank (0 without one).
        drop_last: drop the tail that does not divide evenly instead of padding.
    """

    def __init__(
        self,
        data_source: Sequence[Any] | int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self.n = data_source if isinstance(data_source, int) else len(data_source)
        if self.n < 1:
            raise ValueError("ResumableDistributedSampler needs a non-empty dataset.")
        self.num_replicas, self.rank = _dist_info(num_replicas, rank)
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        self._skip = 0
        self.num_samples = self.n // self.num_replicas if drop_last else -(-self.n // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of ``epoch`` (0-based) on the next ``__iter__``."""
        self.epoch = epoch

    def resume(self, epoch: int, skip: int) -> None:
        """Start the next ``__iter__`` at ``epoch``, skipping this rank's first ``skip`` samples of that epoch.

        Args:
            epoch: 0-based epoch the interrupted run was in.
            skip: samples (per rank) already consumed in that epoch, i.e. ``(iteration % epoch_length) * batch``.
        """
        if not 0 <= skip <= self.num_samples:
            raise ValueError(f"skip must lie in [0, {self.num_samples}] (samples per rank), found {skip}.")
        self.epoch, self._skip = epoch, skip

    def epoch_indices(self, epoch: int) -> list[int]:
        """This rank's dataset indices for ``epoch``, in order."""
        if self.shuffle:
            g = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        total = self.num_samples * self.num_replicas
        order = order[:total] if self.drop_last else (order * (-(-total // self.n)))[:total]
        return order[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, skip = self.epoch, self._skip
        self.epoch, self._skip = epoch + 1, 0
        return iter([(epoch, i) for i in self.epoch_indices(epoch)[skip:]])

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, int]:
        """Seed and next epoch (for inspection; exact resume recomputes the position from the iteration)."""
        return {"seed": self.seed, "epoch": self.epoch}


class SeededDataset(Dataset):
    """Dataset wrapper that seeds the wrapped dataset's random transforms from ``(seed, epoch, index)``.

    Accepts keys ``(epoch, index)`` (from :class:`ResumableDistributedSampler`) or plain ``index`` (epoch 0).
    Items that are dicts get the derived seed under :data:`SEED_KEY` for
    :class:`~raddino_monai.data.collate.SSLCollate`.

    Args:
        dataset: a dataset with a ``transform`` attribute (MONAI ``Dataset``/``CacheDataset``...) whose transforms
            implement ``set_random_state``; datasets without one are used as they are.
        seed: base seed of the run.
    """

    def __init__(self, dataset: Any, seed: int = 0) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        sample_seed = derive_seed(self.seed, epoch, index)
        transform = getattr(self.dataset, "transform", None)
        if hasattr(transform, "set_random_state"):
            transform.set_random_state(seed=sample_seed)
        item = self.dataset[index]
        if isinstance(item, dict):
            item = {**item, SEED_KEY: sample_seed}
        return item

"""SSL multi-crop collate with iBOT masks ([DV2] ``dinov2/data/collate.py: collate_data_and_cast``).

Samples are the dicts made by :class:`raddino_monai.transforms.multicrop.MultiCropd`
(``{"global_crops": [n_global x (C, G, G)], "local_crops": [n_local x (C, L, L)], ...}``; other keys are ignored).
The batch layout is the contract of docs/architecture.md: crops are stacked **view-major** (all images of view 0,
then all images of view 1, ...), which is what the DINO loss's ``chunk(n_global)`` expects.

Random masks and DataLoader workers: :class:`SSLCollate` rebuilds its NumPy generator for every batch from the
per-item seeds that :class:`~raddino_monai.data.samplers.SeededDataset` stores under
:data:`~raddino_monai.data.samplers.SEED_KEY`, so the masks depend only on which images form the batch: not on
worker ids, on the number of workers, or on whether the run was resumed. Items without seeds (a plain dataset) use
``(seed, batch counter)`` instead.

Example:
    >>> ds = SeededDataset(monai.data.Dataset(items, transform=MultiCropd("image", cfg)), seed=0)  # doctest: +SKIP
    >>> loader = DataLoader(ds, batch_size=40, collate_fn=SSLCollate(patch_size=14), num_workers=8)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from raddino_monai.data.bad_files import BAD_FILES_KEY
from raddino_monai.data.masking import MaskingConfig, sample_ibot_masks
from raddino_monai.data.samplers import SEED_KEY, derive_seed

__all__ = ["SSLCollate", "collate_ssl", "stack_view_major"]


def stack_view_major(samples: Sequence[Mapping[Hashable, Any]], key: str) -> torch.Tensor:
    """Stack ``samples[i][key][v]`` into ``(n_views * B, C, S, S)`` ordered view-major (index ``v * B + i``).

    Raises:
        ValueError: if a sample lacks ``key`` or the samples have different numbers of views.
    """
    counts = []
    for index, sample in enumerate(samples):
        if key not in sample:
            raise ValueError(
                f"SSL collate: sample {index} has no {key!r} (keys: {sorted(map(str, sample))}); "
                "build samples with MultiCropd."
            )
        counts.append(len(sample[key]))
    if len(set(counts)) != 1:
        raise ValueError(f"SSL collate: samples have different numbers of {key!r} views: {counts}.")
    if counts[0] == 0:  # e.g. n_local = 0
        return torch.empty(0)
    return torch.stack([torch.as_tensor(sample[key][view]) for view in range(counts[0]) for sample in samples])


def collate_ssl(
    samples: Sequence[Mapping[Hashable, Any]],
    patch_size: int,
    rng: np.random.Generator | np.random.RandomState,
    masking: MaskingConfig | None = None,
    global_key: str = "global_crops",
    local_key: str = "local_crops",
) -> dict[str, Any]:
    """Collate multi-crop samples and draw iBOT masks for the global crops.

    Args:
        samples: B dicts with ``global_key`` (list of ``(C, G, G)``) and ``local_key`` (list of ``(C, L, L)``).
        patch_size: ViT patch size; ``G`` must be a multiple of it.
        rng: NumPy generator for the masks.
        masking: which images get masks and how much of each; ``None`` -> :class:`MaskingConfig` defaults ([DV2]).
        global_key: sample key of the global views.
        local_key: sample key of the local views.

    Returns:
        ``global_crops`` ``(n_global * B, C, G, G)`` and ``local_crops`` ``(n_local * B, C, L, L)``, both
        view-major (``local_crops`` is an empty tensor when there are no local views);
        ``masks`` ``(n_global * B, N)`` bool with ``N = (G / patch_size) ** 2`` (True = masked);
        ``masks_weight`` ``(M,)`` float32 (``1 / n_masked`` of the owning image per masked patch);
        ``mask_indices`` ``(M,)`` int64 (flat indices of the True entries of ``masks``, same order);
        ``n_masked_images`` int; ``n_global_crops`` and ``n_local_crops`` ints (views per image).

    Raises:
        ValueError: empty batch, inconsistent views, or a global crop size that is not a multiple of ``patch_size``.
    """
    if len(samples) == 0:
        raise ValueError("SSL collate got an empty batch.")
    global_crops = stack_view_major(samples, global_key)
    local_crops = stack_view_major(samples, local_key)
    if global_crops.ndim != 4:
        raise ValueError(f"SSL collate: {global_key!r} views must be (C, H, W), got {tuple(global_crops.shape[1:])}.")
    height, width = global_crops.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"SSL collate: global crop size {(height, width)} is not a multiple of patch_size={patch_size}."
        )
    masks, masks_weight, n_masked_images = sample_ibot_masks(
        global_crops.shape[0],
        (height // patch_size, width // patch_size),
        rng,
        masking,
    )
    return {
        "global_crops": global_crops,
        "local_crops": local_crops,
        "masks": masks,
        "masks_weight": masks_weight,
        "mask_indices": masks.flatten().nonzero().flatten(),
        "n_masked_images": n_masked_images,
        "n_global_crops": global_crops.shape[0] // len(samples),
        "n_local_crops": local_crops.shape[0] // len(samples),
    }


class SSLCollate:
    """Picklable ``collate_fn`` for SSL DataLoaders: :func:`collate_ssl` with masks drawn from the items' seeds.

    The NumPy generator of each batch is ``default_rng(derive_seed(*item seeds))`` (module docstring).

    Args:
        patch_size: ViT patch size (the backbone's ``patch_size``).
        masking: mask settings (the ``masking`` section of ``SSLConfig``); ``None`` -> :class:`MaskingConfig`.
        seed: used with a batch counter when the items carry no seeds (e.g. a plain dataset).
        global_key: sample key of the global views.
        local_key: sample key of the local views.

    Raises:
        ValueError: ``patch_size < 1``.
        TypeError: ``masking`` is not a :class:`MaskingConfig`.

    Example:
        >>> from raddino_monai.transforms import MultiCropConfig, MultiCropd
        >>> multicropd = MultiCropd("image", MultiCropConfig.tiny(), seed=0)
        >>> samples = [multicropd({"image": torch.rand(1, 128, 128)}) for _ in range(3)]
        >>> batch = SSLCollate(patch_size=14, seed=0)(samples)
        >>> tuple(batch["global_crops"].shape), tuple(batch["masks"].shape)
        ((6, 3, 112, 112), (6, 64))
    """

    def __init__(
        self,
        patch_size: int,
        masking: MaskingConfig | None = None,
        seed: int = 0,
        global_key: str = "global_crops",
        local_key: str = "local_crops",
    ) -> None:
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, found {patch_size}.")
        masking = MaskingConfig() if masking is None else masking
        if not isinstance(masking, MaskingConfig):
            raise TypeError(f"masking must be a MaskingConfig, found {type(masking).__name__} ({masking!r}).")
        self.patch_size = patch_size
        self.masking = masking
        self.seed = seed
        self.global_key = global_key
        self.local_key = local_key
        self._calls = 0

    def __call__(self, samples: Sequence[Mapping[Hashable, Any]]) -> dict[str, Any]:
        """Collate one batch (the :data:`SEED_KEY` entries are removed); see :func:`collate_ssl` for the output.

        Bad-file markers that :class:`~raddino_monai.data.bad_files.SkipBadFiles` attached to substitute items are
        removed from the items and listed under :data:`~raddino_monai.data.bad_files.BAD_FILES_KEY` of the batch
        (when there are any) for :class:`~raddino_monai.engines.handlers.BadFileHandler`.
        """
        bad = [b for s in samples if isinstance(s, dict) for b in s.pop(BAD_FILES_KEY, ())]  # type: ignore[misc]
        seeds = [s.pop(SEED_KEY) for s in samples if isinstance(s, dict) and SEED_KEY in s]  # type: ignore[misc]
        if not seeds:
            seeds, self._calls = [self.seed, self._calls], self._calls + 1
        rng = np.random.default_rng(derive_seed(*seeds))
        batch = collate_ssl(samples, self.patch_size, rng, self.masking, self.global_key, self.local_key)
        if bad:
            batch[BAD_FILES_KEY] = bad
        return batch

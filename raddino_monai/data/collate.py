"""SSL multi-crop collate with iBOT masks ([DV2] ``dinov2/data/collate.py: collate_data_and_cast``).

Samples are the dicts made by :class:`raddino_monai.transforms.multicrop.MultiCropd`
(``{"global_crops": [n_global x (C, G, G)], "local_crops": [n_local x (C, L, L)], ...}``; other keys are ignored).
The batch layout is the contract of docs/architecture.md: crops are stacked **view-major** (all images of view 0,
then all images of view 1, ...), which is what the DINO loss's ``chunk(n_global)`` expects.

Random masks and DataLoader workers: every DataLoader worker holds its own pickled copy of the collate. On its first
call inside a worker, :class:`SSLCollate` reseeds its generator from ``(seed, worker_info.seed)``. PyTorch sets
``worker_info.seed = base_seed + worker_id`` with ``base_seed`` drawn from the main process's torch RNG (or the
DataLoader's ``generator``) each time an iterator is created, so workers differ from each other and from epoch to
epoch, and ``torch.manual_seed`` (restored when a run resumes) reproduces them. With ``num_workers=0`` the generator
lives in the main process and :meth:`SSLCollate.state_dict` / :meth:`SSLCollate.load_state_dict` checkpoint it.

Example:
    >>> collate = SSLCollate(patch_size=14, seed=0)
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=40, collate_fn=collate, num_workers=8)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import get_worker_info

from raddino_monai.ssl.masking import sample_ibot_masks

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
    mask_probability: float = 0.5,
    mask_ratio: tuple[float, float] = (0.1, 0.5),
    global_key: str = "global_crops",
    local_key: str = "local_crops",
) -> dict[str, Any]:
    """Collate multi-crop samples and draw iBOT masks for the global crops.

    Args:
        samples: B dicts with ``global_key`` (list of ``(C, G, G)``) and ``local_key`` (list of ``(C, L, L)``).
        patch_size: ViT patch size; ``G`` must be a multiple of it.
        rng: NumPy generator for the masks.
        mask_probability: fraction of global-crop images that get masks ([DV2] ``ibot.mask_sample_probability``).
        mask_ratio: masked-patch ratio range ([DV2] ``ibot.mask_ratio_min_max``), stratified over masked images.
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
        mask_probability=mask_probability,
        ratio_min_max=mask_ratio,
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
    """Picklable ``collate_fn`` for SSL DataLoaders: :func:`collate_ssl` with its own seeded NumPy generator.

    Args:
        patch_size: ViT patch size (14 for RAD-DINO [HF]).
        mask_probability: [DV2] ``ibot.mask_sample_probability`` 0.5.
        mask_ratio: [DV2] ``ibot.mask_ratio_min_max`` (0.1, 0.5).
        seed: generator seed; None draws fresh OS entropy (recorded in :meth:`state_dict`).
        global_key: sample key of the global views.
        local_key: sample key of the local views.

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
        mask_probability: float = 0.5,
        mask_ratio: Sequence[float] = (0.1, 0.5),
        seed: int | None = None,
        global_key: str = "global_crops",
        local_key: str = "local_crops",
    ) -> None:
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}.")
        if len(mask_ratio) != 2:
            raise ValueError(f"mask_ratio must be a (min, max) pair, got {mask_ratio}.")
        self.patch_size = patch_size
        self.mask_probability = mask_probability
        self.mask_ratio = (float(mask_ratio[0]), float(mask_ratio[1]))
        self.global_key = global_key
        self.local_key = local_key
        self.seed: int = int(np.random.SeedSequence(seed).entropy)  # type: ignore[arg-type]
        self._rng = np.random.default_rng(self.seed)
        self._worker_seed: int | None = None

    def _generator(self) -> np.random.Generator:
        info = get_worker_info()
        if info is not None and info.seed != self._worker_seed:
            self._worker_seed = info.seed
            self._rng = np.random.default_rng(np.random.SeedSequence([self.seed, info.seed]))
        return self._rng

    def __call__(self, samples: Sequence[Mapping[Hashable, Any]]) -> dict[str, Any]:
        """Collate one batch; see :func:`collate_ssl` for the returned keys and shapes."""
        return collate_ssl(
            samples,
            self.patch_size,
            self._generator(),
            mask_probability=self.mask_probability,
            mask_ratio=self.mask_ratio,
            global_key=self.global_key,
            local_key=self.local_key,
        )

    def state_dict(self) -> dict[str, Any]:
        """Seed and generator state of this process (main process when ``num_workers=0``)."""
        return {"seed": self.seed, "bit_generator": self._rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output so a resumed run draws the same masks.

        Raises:
            KeyError: if ``state`` lacks ``"seed"`` or ``"bit_generator"``.
        """
        missing = [key for key in ("seed", "bit_generator") if key not in state]
        if missing:
            raise KeyError(f"SSLCollate.load_state_dict: state lacks {missing}; expected SSLCollate.state_dict().")
        self.seed = int(state["seed"])
        self._rng = np.random.default_rng(self.seed)
        self._rng.bit_generator.state = state["bit_generator"]
        self._worker_seed = None

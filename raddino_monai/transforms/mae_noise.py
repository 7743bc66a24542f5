"""RandMAENoise(d): per-item MAE masking noise drawn in the data pipeline, so the mask follows the item's seed.

MAE / ECAMP draw ``noise = torch.rand(N, L)`` inside the model ([MAE] ``models_mae.py`` ``random_masking``; [ECAMP]
``model_ecamp.py`` 168-193) and keep the ``L * (1 - mask_ratio)`` patches of smallest noise. Drawing the same uniform
noise per item here (``self.R``) instead makes the masks a function of the item's seed
(:class:`~raddino_monai.data.samplers.SeededDataset`), hence independent of workers and exactly reproduced on
resume; :class:`~raddino_monai.models.ecamp.ECAMPModel` takes it as ``batch["mae_noise"]``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.transforms import MapTransform, RandomizableTransform

__all__ = ["RandMAENoise", "RandMAENoised"]


class RandMAENoise(RandomizableTransform):
    """``() -> (num_patches,)`` float32 noise, uniform in [0, 1).

    Args:
        num_patches: patches of the encoder input, ``(input_size // patch_size) ** 2`` (ECAMP 196).

    Raises:
        ValueError: ``num_patches < 1``.

    Example:
        >>> RandMAENoise(196).set_random_state(0)().shape
        torch.Size([196])
    """

    def __init__(self, num_patches: int) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        if int(num_patches) < 1:
            raise ValueError(f"num_patches must be >= 1, found {num_patches}.")
        self.num_patches = int(num_patches)
        self._noise = np.zeros(self.num_patches)

    def randomize(self, data: Any = None) -> None:
        """Draw the noise of one item."""
        self._noise = self.R.random_sample(self.num_patches)

    def __call__(self, randomize: bool = True) -> torch.Tensor:
        if randomize:
            self.randomize()
        return torch.as_tensor(self._noise, dtype=torch.float32)


class RandMAENoised(RandomizableTransform, MapTransform):
    """Dictionary version: writes ``data[key]`` = :class:`RandMAENoise` noise (the other keys pass unchanged).

    Args:
        key: output key (the ECAMP batch key ``mae_noise``).
        num_patches: see :class:`RandMAENoise`.
    """

    def __init__(self, key: str = "mae_noise", num_patches: int = 196) -> None:
        MapTransform.__init__(self, key, allow_missing_keys=True)
        RandomizableTransform.__init__(self, prob=1.0)
        self.key = key
        self.noise = RandMAENoise(num_patches)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandMAENoised:
        super().set_random_state(seed, state)
        self.noise.set_random_state(state=self.R)
        return self

    def randomize(self, data: Any = None) -> None:
        """Draw the noise of one item."""
        self.noise.randomize()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        d[self.key] = self.noise(randomize=False)
        return d

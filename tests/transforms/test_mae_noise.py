"""RandMAENoise(d): uniform noise from self.R, reproducible with set_random_state, and MAE's mask from it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.models.ecamp import random_masking
from raddino_monai.transforms import RandMAENoise, RandMAENoised


def test_noise_is_seeded_uniform_and_gives_maes_mask() -> None:
    a = RandMAENoise(196).set_random_state(5)()
    b = RandMAENoise(196).set_random_state(5)()
    assert a.shape == (196,) and a.dtype == torch.float32 and torch.equal(a, b)
    np.testing.assert_allclose(a.numpy(), np.random.RandomState(5).random_sample(196).astype(np.float32))
    many = torch.stack([RandMAENoise(16).set_random_state(s)() for s in range(500)])
    assert 0.45 < float(many.mean()) < 0.55 and float(many.min()) >= 0 and float(many.max()) < 1
    masking = random_masking(1, 196, 0.75, noise=a[None])
    keep = np.argsort(a.numpy(), kind="stable")[:49]  # the 49 smallest noise values are kept (MAE)
    assert sorted(masking.ids_keep[0].tolist()) == sorted(keep.tolist())


def test_dictionary_version() -> None:
    t = RandMAENoised("mae_noise", 16).set_random_state(1)
    out = t({"image": torch.zeros(1)})
    assert set(out) == {"image", "mae_noise"} and out["mae_noise"].shape == (16,)
    assert torch.equal(RandMAENoised("mae_noise", 16).set_random_state(1)({})["mae_noise"], out["mae_noise"])
    with pytest.raises(ValueError, match="num_patches"):
        RandMAENoise(0)

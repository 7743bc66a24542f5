from __future__ import annotations

import numpy as np
import pytest

from raddino_monai.models.sincos import sincos_2d_position_embedding


def _mae_numpy(dim: int, gh: int, gw: int) -> np.ndarray:
    """[MAE] util/pos_embed.py get_2d_sincos_pos_embed, transcribed (w first in meshgrid), extended to gh != gw."""
    grid = np.stack(np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32)), axis=0)

    def one_d(d: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    emb = np.concatenate([one_d(dim // 2, grid[0]), one_d(dim // 2, grid[1])], axis=1)
    return np.concatenate([np.zeros([1, dim]), emb], axis=0)


@pytest.mark.parametrize(("gh", "gw"), [(14, 14), (3, 5)])
def test_matches_mae(gh: int, gw: int) -> None:
    got = sincos_2d_position_embedding(32, gh, gw).numpy()
    np.testing.assert_allclose(got, _mae_numpy(32, gh, gw), atol=1e-6)
    assert got.shape == (1 + gh * gw, 32)


def test_errors() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_2d_position_embedding(30, 2, 2)
    with pytest.raises(ValueError, match="non-empty"):
        sincos_2d_position_embedding(32, 0, 2)

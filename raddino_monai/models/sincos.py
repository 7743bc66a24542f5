"""Fixed 2-D sine-cosine position embeddings, with MAE's dimension order.

[MAE] facebookresearch/mae @ efb2a80 ``util/pos_embed.py`` (``get_2d_sincos_pos_embed``, lines 20-67): the first half
of the channels encodes the patch *column* (``np.meshgrid(grid_w, grid_h)`` puts ``w`` first), the second half the
patch *row*; each half is ``[sin(pos * omega), cos(pos * omega)]`` with ``omega_k = 10000 ** (-k / (D / 4))``; the
CLS slot is all zeros. ECAMP ([ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/model_ecamp.py`` lines 64, 78,
108-112) uses it, frozen, for both the encoder and the MAE decoder. Keeping MAE's order matters when a released MAE
encoder (whose ``pos_embed`` was made this way) is combined with a decoder built here.
"""

from __future__ import annotations

import torch

__all__ = ["sincos_2d_position_embedding"]


def _sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """``(M,)`` positions -> ``(M, dim)`` = ``[sin(p * omega), cos(p * omega)]``, computed in float64."""
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_2d_position_embedding(dim: int, grid_h: int, grid_w: int, cls_token: bool = True) -> torch.Tensor:
    """2-D sin-cos position embedding of a ``grid_h x grid_w`` patch grid (row-major patch order).

    Args:
        dim: embedding width D (a multiple of 4).
        grid_h: patch rows.
        grid_w: patch columns.
        cls_token: prepend an all-zero row for the CLS token ([MAE] ``cls_token=True``).

    Returns:
        float32 ``(1 + grid_h * grid_w, dim)`` (or ``(grid_h * grid_w, dim)`` without the CLS row).

    Raises:
        ValueError: ``dim`` is not a positive multiple of 4, or the grid is empty.

    Example:
        >>> sincos_2d_position_embedding(8, 2, 3).shape
        torch.Size([7, 8])
    """
    if dim <= 0 or dim % 4:
        raise ValueError(f"sin-cos position embeddings need a width that is a multiple of 4; got dim={dim}.")
    if grid_h < 1 or grid_w < 1:
        raise ValueError(f"sin-cos position embeddings need a non-empty grid; got {grid_h} x {grid_w}.")
    rows = torch.arange(grid_h).repeat_interleave(grid_w)  # patch r * grid_w + c has row r ...
    cols = torch.arange(grid_w).repeat(grid_h)  # ... and column c
    emb = torch.cat([_sincos_1d(dim // 2, cols), _sincos_1d(dim // 2, rows)], dim=1)  # [MAE]: column half first
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim, dtype=emb.dtype), emb], dim=0)
    return emb.float()

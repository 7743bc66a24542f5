"""The light MAE decoder: visible tokens + mask tokens -> pixels of every patch.

[MAE] facebookresearch/mae @ efb2a80 ``models_mae.py``: ``decoder_embed`` (``Linear(D, D_dec)``), one learned
``mask_token``, fixed sin-cos ``decoder_pos_embed``, ``decoder_depth`` timm ``Block`` s, ``decoder_norm`` and
``decoder_pred`` (``Linear(D_dec, p * p * C)``); ``forward_decoder`` (lines 172-196) appends mask tokens after the
visible ones, un-shuffles with ``ids_restore``, adds the position embedding, runs the blocks and drops CLS. Weight
init (lines 65-94): xavier-uniform Linear with zero bias, LayerNorm 1/0, ``mask_token ~ N(0, 0.02)``.

ECAMP's sizes ([ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/model_ecamp.py`` ``ecamp()``, lines 328-333):
``decoder_embed_dim=512, decoder_depth=4, decoder_num_heads=16``, ``mlp_ratio=4``, LayerNorm eps 1e-6 (MAE's
ViT-B recipe uses depth 8). Parameter names follow MAE's, so the decoder part of an MAE checkpoint loads by name
(:meth:`MAEDecoder.load_mae_state`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raddino_monai.models.sincos import sincos_2d_position_embedding

__all__ = ["ViTBlock", "MAEDecoder", "mae_init_"]


class _Attention(nn.Module):
    """timm ``Attention``: fused ``qkv`` projection (q, k, v stacked on dim 0), softmax attention, ``proj``."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not divisible by {num_heads} heads.")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)  # [MAE] Block(qkv_bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class _Mlp(nn.Module):
    """timm ``Mlp``: ``fc1 -> GELU (exact) -> fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ViTBlock(nn.Module):
    """Pre-norm transformer block with timm ``Block`` names and maths (no LayerScale, no drop path).

    ``x = x + attn(norm1(x)); x = x + mlp(norm2(x))``.

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim``.
        eps: LayerNorm epsilon ([MAE] ``partial(nn.LayerNorm, eps=1e-6)``).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, dim) -> (B, T, dim)``."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def mae_init_(module: nn.Module) -> None:
    """MAE / ECAMP ``_init_weights``: xavier-uniform Linear weights, zero biases, LayerNorm weight 1 and bias 0.

    Use as ``model.apply(mae_init_)`` ([MAE] lines 85-94; [ECAMP] ``model_ecamp.py`` lines 124-135).
    """
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class MAEDecoder(nn.Module):
    """Reconstruct every patch from the encoder's CLS + visible tokens.

    Args:
        embed_dim: encoder width D.
        patch_size: patch side p.
        in_chans: image channels C (the prediction has ``p * p * C`` values per patch).
        decoder_dim: decoder width ([ECAMP] 512).
        depth: decoder blocks ([ECAMP] 4).
        num_heads: decoder attention heads ([ECAMP] 16).
        mlp_ratio: decoder MLP ratio ([ECAMP] 4).
        eps: LayerNorm epsilon ([ECAMP] 1e-6).

    Example:
        >>> dec = MAEDecoder(embed_dim=32, patch_size=4, decoder_dim=16, depth=1, num_heads=2)
        >>> from raddino_monai.models.ecamp.mae_masking import random_masking
        >>> m = random_masking(2, 9, 0.75)
        >>> dec(torch.randn(2, 1 + 2, 32), m.ids_restore, (3, 3)).shape
        torch.Size([2, 9, 48])
    """

    def __init__(
        self,
        embed_dim: int,
        patch_size: int,
        in_chans: int = 3,
        decoder_dim: int = 512,
        depth: int = 4,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.decoder_dim = decoder_dim
        self.decoder_embed = nn.Linear(embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_blocks = nn.ModuleList(ViTBlock(decoder_dim, num_heads, mlp_ratio, eps) for _ in range(depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=eps)
        self.decoder_pred = nn.Linear(decoder_dim, patch_size * patch_size * in_chans)
        self.apply(mae_init_)
        nn.init.normal_(self.mask_token, std=0.02)  # [MAE] line 80

    def forward(self, latent: Tensor, ids_restore: Tensor, grid: tuple[int, int]) -> Tensor:
        """Predict the pixels of all patches.

        Args:
            latent: ``(B, 1 + K, D)`` encoder output (CLS first, then the visible tokens in ``ids_keep`` order).
            ids_restore: ``(B, N)`` from :func:`~raddino_monai.models.ecamp.mae_masking.random_masking`.
            grid: patch grid ``(h, w)`` with ``h * w = N``.

        Returns:
            ``(B, N, p * p * C)`` predictions, original patch order (CLS removed).

        Raises:
            ValueError: shapes that do not fit together.
        """
        b, n = ids_restore.shape
        if grid[0] * grid[1] != n or latent.shape[0] != b or latent.shape[1] - 1 > n:
            raise ValueError(
                f"MAEDecoder: latent {tuple(latent.shape)}, ids_restore {tuple(ids_restore.shape)} and grid {grid} "
                "do not fit (need latent (B, 1 + K, D) with K <= N = h * w)."
            )
        x = self.decoder_embed(latent)
        mask_tokens = self.mask_token.expand(b, n + 1 - x.shape[1], -1)
        tokens = torch.cat([x[:, 1:], mask_tokens], dim=1)
        tokens = torch.gather(tokens, 1, ids_restore[..., None].expand(-1, -1, self.decoder_dim))  # un-shuffle
        pos = sincos_2d_position_embedding(self.decoder_dim, grid[0], grid[1]).to(x)
        x = torch.cat([x[:, :1], tokens], dim=1) + pos[None]
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def load_mae_state(self, state: Mapping[str, Tensor], source: str = "<state_dict>") -> list[str]:
        """Load the decoder part of an MAE / ECAMP checkpoint (keys ``decoder_*`` and ``mask_token``) by name.

        As ECAMP's ``misc.load_model`` does, blocks the checkpoint has beyond ``depth`` are skipped (MAE ViT-B has 8
        decoder blocks, ECAMP 4); ``decoder_pos_embed`` is not loaded (it is the fixed sin-cos table recomputed here).

        Args:
            state: flat checkpoint dict with the MAE names (prefix already stripped).
            source: name used in error messages.

        Returns:
            the checkpoint keys that were not loaded (extra blocks, ``decoder_pos_embed``).

        Raises:
            ValueError: a decoder parameter is missing from ``state`` or has another shape (all listed).
        """
        own = self.state_dict()
        missing = sorted(k for k in own if k not in state)
        shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                  if k in state and state[k].shape != v.shape]
        if missing or shapes:
            raise ValueError(f"{source}: the MAE decoder does not fit: missing {missing}; shape mismatches {shapes}.")
        self.load_state_dict({k: state[k] for k in own}, strict=True)
        return sorted(k for k in state if (k.startswith("decoder_") or k == "mask_token") and k not in own)

"""NumPy forward pass of a timm / MAE ViT from its timm-named weights (independent of transformers).

[MAE] facebookresearch/mae ``models_mae.py`` ``forward_encoder`` with timm ``Block`` (pre-norm, fused qkv, exact GELU,
no LayerScale): patch embedding (a stride-p conv = a matrix product on flattened patches), + position embedding,
optional dropping of masked patches, CLS (+ its position embedding) prepended, blocks, final LayerNorm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import erf


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def vit_forward(
    state: Mapping[str, np.ndarray],
    images: np.ndarray,
    num_heads: int,
    keep: Sequence[Sequence[int]] | None = None,
    eps: float = 1e-6,
) -> np.ndarray:
    """``images (B, C, H, W)`` -> ``(B, 1 + K, D)`` tokens after the final norm (K = kept patches, default all)."""
    s = {k: np.asarray(v, dtype=np.float64) for k, v in state.items()}
    w = s["patch_embed.proj.weight"]
    d, c, p, _ = w.shape
    b, _, height, width = images.shape
    h, wd = height // p, width // p
    x = images.astype(np.float64).reshape(b, c, h, p, wd, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, h * wd, -1)
    x = x @ w.reshape(d, -1).T + s["patch_embed.proj.bias"]
    x = x + s["pos_embed"][0, 1:]
    if keep is not None:
        x = np.stack([x[i, list(k)] for i, k in enumerate(keep)])
    cls = s["cls_token"][0] + s["pos_embed"][0, :1]
    x = np.concatenate([np.broadcast_to(cls, (b, 1, d)), x], axis=1)
    blocks = sorted({int(k.split(".")[1]) for k in s if k.startswith("blocks.")})
    for i in blocks:
        g = lambda n: s[f"blocks.{i}.{n}"]  # noqa: E731
        y = _layer_norm(x, g("norm1.weight"), g("norm1.bias"), eps)
        qkv = (y @ g("attn.qkv.weight").T + g("attn.qkv.bias")).reshape(b, -1, 3, num_heads, d // num_heads)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)
        attn = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // num_heads))
        y = (attn @ v).transpose(0, 2, 1, 3).reshape(b, -1, d)
        x = x + y @ g("attn.proj.weight").T + g("attn.proj.bias")
        y = _layer_norm(x, g("norm2.weight"), g("norm2.bias"), eps)
        y = y @ g("mlp.fc1.weight").T + g("mlp.fc1.bias")
        y = 0.5 * y * (1 + erf(y / np.sqrt(2)))
        x = x + y @ g("mlp.fc2.weight").T + g("mlp.fc2.bias")
    return _layer_norm(x, s["norm.weight"], s["norm.bias"], eps)

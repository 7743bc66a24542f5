"""Vision-to-language projectors: encoder tokens ``(B, N, D)`` -> LM input embeddings ``(B, N, H)``.

The same maths as [LLaVA] ``llava/model/multimodal_projector/builder.py``: ``linear`` is one ``nn.Linear(D, H)``;
``mlp2x_gelu`` is ``Linear(D, H) -> GELU -> Linear(H, H)`` (LLaVA-1.5, [PAPER]'s two-layer MLP). Layers use torch's
default init, as LLaVA's. Names are looked up in :data:`PROJECTORS` (a registry, no string parsing).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["PROJECTORS", "build_projector"]


def _linear(in_dim: int, out_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, out_dim))


def _mlp2x_gelu(in_dim: int, out_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))


#: projector name -> builder ``(in_dim, out_dim) -> nn.Module`` mapping ``(..., in_dim)`` to ``(..., out_dim)``
PROJECTORS: dict[str, Callable[[int, int], nn.Module]] = {"linear": _linear, "mlp2x_gelu": _mlp2x_gelu}


def build_projector(name: str, in_dim: int, out_dim: int) -> nn.Module:
    """Build a registered projector.

    Args:
        name: a key of :data:`PROJECTORS`.
        in_dim: encoder width ``D`` (768 for ViT-B/14).
        out_dim: LM hidden size ``H`` (4096 for Vicuna-7B, 576 for SmolLM2-135M).

    Returns:
        a module mapping ``(B, N, D)`` to ``(B, N, H)``.

    Raises:
        ValueError: unknown name (valid names listed) or non-positive sizes.

    Example:
        >>> build_projector("mlp2x_gelu", 768, 4096)[0]
        Linear(in_features=768, out_features=4096, bias=True)
    """
    if name not in PROJECTORS:
        raise ValueError(f"Unknown projector {name!r}; valid values: {sorted(PROJECTORS)}.")
    if in_dim < 1 or out_dim < 1:
        raise ValueError(f"Projector sizes must be >= 1, found in_dim={in_dim}, out_dim={out_dim}.")
    return PROJECTORS[name](in_dim, out_dim)

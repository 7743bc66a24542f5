"""One vocabulary of pooled frozen features, used by embedding extraction, probes and the classification bundle.

:data:`POOLINGS` names every representation of an image that the package computes from a frozen backbone:

* ``"cls"``: the normed CLS token of the last block, ``(B, D)`` (RAD-DINO [PAPER] §4 linear probing; [CARD]
  ``last_hidden_state[:, 0]``).
* ``"mean"``: the mean of the last block's normed patch tokens, ``(B, D)``.
* ``"patch"``: the last block's normed patch tokens as a grid, ``(B, D, h, w)`` ([CARD] ``last_hidden_state[:, 1:]``
  reshaped); a map, not a vector, so extraction can store it but a linear probe cannot take it.
* ``"cls_patchmean"``: CLS concatenated with the patch mean, ``(B, 2D)`` ([DV2] ``eval/linear.py``
  ``use_avgpool=True`` with ``n_last_blocks=1``).
* ``"last_n_cls"``: normed CLS of the last ``n`` blocks concatenated, ``(B, n*D)`` ([DV2] ``eval/linear.py``
  ``create_linear_input``; :meth:`~raddino_monai.models.RadDinoBackbone.last_cls_tokens`).

:func:`pool_features` runs the backbone once for all requested poolings that read the last block, and once more
(with hidden states) only when ``"last_n_cls"`` is among them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Pooling", "POOLINGS", "VECTOR_POOLINGS", "N_LAST_BLOCKS", "check_poolings", "pool_features", "pooled_dim"]

#: blocks concatenated by ``"last_n_cls"`` unless told otherwise ([DV2] ``eval/linear.py`` evaluates n = 1 and 4)
N_LAST_BLOCKS = 4


@dataclass(frozen=True)
class Pooling:
    """One pooled representation.

    Attributes:
        fn: backbone outputs -> pooled tensor. The outputs are :meth:`RadDinoBackbone.forward_features`'s dict, plus
            ``"last_cls_tokens"`` ``(B, n, D)`` when ``uses_blocks``.
        width: ``F / D`` as a function of ``n_last_blocks``; ``None`` for a spatial map (``"patch"``).
        uses_blocks: needs the CLS tokens of the last ``n_last_blocks`` blocks.
    """

    fn: Callable[[Mapping[str, torch.Tensor]], torch.Tensor]
    width: Callable[[int], int] | None
    uses_blocks: bool = False


def _cls(feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return feats["cls_token"]


def _mean(feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return feats["patch_tokens"].mean(dim=1)


def _patch(feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return feats["patch_grid"]


def _cls_patchmean(feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([feats["cls_token"], feats["patch_tokens"].mean(dim=1)], dim=1)


def _last_n_cls(feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return feats["last_cls_tokens"].flatten(1)


#: pooling name -> :class:`Pooling` (module docstring).
POOLINGS: dict[str, Pooling] = {
    "cls": Pooling(_cls, lambda n: 1),
    "mean": Pooling(_mean, lambda n: 1),
    "patch": Pooling(_patch, None),
    "cls_patchmean": Pooling(_cls_patchmean, lambda n: 2),
    "last_n_cls": Pooling(_last_n_cls, lambda n: n, uses_blocks=True),
}

#: the poolings that give one vector per image (what a linear head or a logistic regression takes)
VECTOR_POOLINGS: tuple[str, ...] = tuple(name for name, p in POOLINGS.items() if p.width is not None)


def check_poolings(names: Sequence[str], valid: Sequence[str] = tuple(POOLINGS)) -> list[str]:
    """The requested pooling names as a list, checked.

    Args:
        names: pooling names (a single name is accepted too).
        valid: the allowed names (e.g. :data:`VECTOR_POOLINGS` for a probe).

    Returns:
        ``list(names)``.

    Raises:
        ValueError: no name, or a name not in ``valid`` (the valid values are listed).
    """
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ValueError(f"Unknown pooling(s) {unknown or names}; valid values: {list(valid)}.")
    return names


def pooled_dim(embed_dim: int, pooling: str, n_last_blocks: int = N_LAST_BLOCKS) -> int:
    """Width F of a vector pooling.

    Args:
        embed_dim: backbone width D.
        pooling: a key of :data:`VECTOR_POOLINGS`.
        n_last_blocks: blocks used by ``"last_n_cls"``.

    Returns:
        F.

    Raises:
        ValueError: unknown or spatial pooling.

    Example:
        >>> pooled_dim(768, "last_n_cls", 4)
        3072
    """
    check_poolings([pooling], VECTOR_POOLINGS)
    width = POOLINGS[pooling].width
    assert width is not None  # VECTOR_POOLINGS holds only poolings with a width
    return embed_dim * width(n_last_blocks)


def pool_features(
    backbone: nn.Module, x: torch.Tensor, names: Sequence[str], n_last_blocks: int = N_LAST_BLOCKS
) -> dict[str, torch.Tensor]:
    """Every requested pooling of images ``x`` (no ``no_grad`` here: the caller decides).

    Args:
        backbone: a :class:`~raddino_monai.models.RadDinoBackbone` (``forward_features``, ``last_cls_tokens``).
        x: images ``(B, 3, H, W)``.
        names: keys of :data:`POOLINGS`.
        n_last_blocks: blocks for ``"last_n_cls"``.

    Returns:
        name -> pooled tensor (shapes in the module docstring).

    Raises:
        ValueError: unknown pooling name (valid values listed).
    """
    names = check_poolings(names)
    feats: dict[str, torch.Tensor] = {}
    if any(not POOLINGS[n].uses_blocks for n in names):
        feats.update(backbone.forward_features(x))
    if any(POOLINGS[n].uses_blocks for n in names):
        feats["last_cls_tokens"] = backbone.last_cls_tokens(x, n_last_blocks)
    return {n: POOLINGS[n].fn(feats) for n in names}

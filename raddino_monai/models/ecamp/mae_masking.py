"""MAE-style random patch masking and visible-only encoding on a :class:`RadDinoBackbone`.

[MAE] facebookresearch/mae @ efb2a80 ``models_mae.py``:

* ``random_masking`` (lines 123-148): per-sample shuffle by ``argsort`` of uniform noise; the first
  ``int(N * (1 - ratio))`` shuffled patches are kept; ``ids_restore = argsort(ids_shuffle)`` undoes the shuffle;
  ``mask`` is 0 for kept and 1 for removed patches, in the original patch order.
* ``forward_encoder`` (lines 150-170): patch embedding + position embedding, *then* drop the masked patches, prepend
  CLS (+ its position embedding), run the blocks on the visible tokens only, final LayerNorm.
* ``patchify`` / ``unpatchify`` (lines 95-121): ``(B, C, H, W) <-> (B, N, p * p * C)`` with channels fastest.

ECAMP ([ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/model_ecamp.py`` lines 168-237) is the same code.
Here the transformers ``Dinov2Model`` of the backbone does the embedding (``model.embeddings``: patch projection, CLS
and register tokens, position embeddings interpolated bicubically when the grid differs from the stored one); the
visible patches are gathered from its output and passed to ``model.encoder`` and ``model.layernorm``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from raddino_monai.models.backbone import RadDinoBackbone

__all__ = ["PatchMasking", "random_masking", "encode_visible", "patchify", "unpatchify"]


class PatchMasking(NamedTuple):
    """One draw of MAE random masking.

    Attributes:
        ids_keep: ``(B, K)`` long, indices of the visible patches in shuffled order.
        ids_restore: ``(B, N)`` long, ``argsort(ids_shuffle)``: gathering ``[visible, masked]`` tokens with it
            restores the original patch order.
        mask: ``(B, N)`` float, 1 = masked (removed), 0 = visible, original patch order.
    """

    ids_keep: Tensor
    ids_restore: Tensor
    mask: Tensor


def random_masking(
    batch_size: int,
    num_patches: int,
    mask_ratio: float,
    *,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> PatchMasking:
    """Draw MAE random masking: exactly ``N - int(N * (1 - mask_ratio))`` masked patches per image.

    Args:
        batch_size: B.
        num_patches: N patches per image.
        mask_ratio: fraction to remove, ``0 <= mask_ratio < 1`` ([MAE] / [ECAMP] ``run.sh``: 0.75).
        noise: ``(B, N)`` uniform noise to sort (e.g. drawn by a collate); ``None`` draws ``torch.rand``.
        generator: torch generator for the noise (``None``: the global generator, seeded by the engine).
        device: device of the drawn noise when ``noise`` is None.

    Returns:
        :class:`PatchMasking`.

    Raises:
        ValueError: ``mask_ratio`` outside ``[0, 1)``, or ``noise`` of the wrong shape.

    Example:
        >>> m = random_masking(2, 196, 0.75)
        >>> m.ids_keep.shape, m.mask.sum(dim=1).tolist()
        (torch.Size([2, 49]), [147.0, 147.0])
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1); got {mask_ratio}.")
    if noise is None:
        noise = torch.rand(batch_size, num_patches, generator=generator, device=device)
    elif tuple(noise.shape) != (batch_size, num_patches):
        raise ValueError(f"noise must have shape (B, N) = ({batch_size}, {num_patches}); found {tuple(noise.shape)}.")
    len_keep = int(num_patches * (1 - mask_ratio))  # [MAE] models_mae.py line 130
    ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    mask = torch.ones(batch_size, num_patches, device=noise.device)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)
    return PatchMasking(ids_keep=ids_keep, ids_restore=ids_restore, mask=mask)


def encode_visible(backbone: RadDinoBackbone, images: Tensor, ids_keep: Tensor) -> Tensor:
    """Run the backbone on the visible patches only ([MAE] ``forward_encoder``).

    Args:
        backbone: ViT whose ``model`` is a transformers ``Dinov2Model`` (or the register variant).
        images: ``(B, C, H, W)``.
        ids_keep: ``(B, K)`` patch indices to keep (row-major patch order), e.g. :attr:`PatchMasking.ids_keep`.

    Returns:
        ``(B, 1 + K, D)`` after the final LayerNorm: the CLS token, then the K visible patch tokens in the order of
        ``ids_keep``. Register tokens (if any) take part in attention and are dropped from the output.

    Raises:
        ValueError: ``ids_keep`` has the wrong batch size or indices outside the patch grid.
    """
    h, w = backbone.grid_size(images)
    if ids_keep.ndim != 2 or ids_keep.shape[0] != images.shape[0]:
        raise ValueError(f"ids_keep must be (B, K) with B = {images.shape[0]}; found {tuple(ids_keep.shape)}.")
    if ids_keep.numel() and (int(ids_keep.min()) < 0 or int(ids_keep.max()) >= h * w):
        raise ValueError(f"ids_keep must index the {h} x {w} = {h * w} patches of a {tuple(images.shape)} batch.")
    model = backbone.model
    tokens = model.embeddings(images)  # (B, 1 + R + N, D): position embeddings already added, as in [MAE]
    prefix = 1 + backbone.num_register_tokens
    index = ids_keep.to(tokens.device)[..., None].expand(-1, -1, tokens.shape[-1])
    visible = torch.gather(tokens[:, prefix:], dim=1, index=index)
    hidden = model.encoder(torch.cat([tokens[:, :prefix], visible], dim=1)).last_hidden_state
    hidden = model.layernorm(hidden)
    return torch.cat([hidden[:, :1], hidden[:, prefix:]], dim=1)


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """``(B, C, H, W) -> (B, N, p * p * C)``, patches row-major, pixels row-major, channels fastest ([MAE]).

    Raises:
        ValueError: ``H`` or ``W`` is not a multiple of ``patch_size``.
    """
    b, c, height, width = images.shape
    p = patch_size
    if height % p or width % p:
        raise ValueError(f"patchify needs H and W divisible by the patch size {p}; found {(height, width)}.")
    h, w = height // p, width // p
    x = images.reshape(b, c, h, p, w, p).permute(0, 2, 4, 3, 5, 1)  # [MAE] einsum "nchpwq->nhwpqc"
    return x.reshape(b, h * w, p * p * c)


def unpatchify(patches: Tensor, patch_size: int, grid: tuple[int, int], channels: int = 3) -> Tensor:
    """Inverse of :func:`patchify`: ``(B, N, p * p * C) -> (B, C, h * p, w * p)``.

    Raises:
        ValueError: the token count or width does not match ``grid`` / ``patch_size`` / ``channels``.
    """
    b, n, dim = patches.shape
    h, w = grid
    p = patch_size
    if n != h * w or dim != p * p * channels:
        raise ValueError(
            f"unpatchify expects (B, {h * w}, {p * p * channels}) for a {h} x {w} grid of {p} px patches with "
            f"{channels} channels; found {tuple(patches.shape)}."
        )
    x = patches.reshape(b, h, w, p, p, channels).permute(0, 5, 1, 3, 2, 4)  # [MAE] einsum "nhwpqc->nchpwq"
    return x.reshape(b, channels, h * p, w * p)

"""MAE decoder: un-shuffling and shapes re-derived in NumPy; loading MAE decoder weights by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.models.ecamp.mae_decoder import MAEDecoder, ViTBlock
from raddino_monai.models.ecamp.mae_masking import random_masking
from raddino_monai.models.sincos import sincos_2d_position_embedding


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


def test_zero_block_decoder_matches_numpy_unshuffle() -> None:
    dec = MAEDecoder(embed_dim=8, patch_size=2, in_chans=3, decoder_dim=16, depth=0, num_heads=2).eval()
    m = random_masking(2, 6, 0.5, generator=torch.Generator().manual_seed(0))
    latent = torch.randn(2, 1 + 3, 8)
    with torch.no_grad():
        got = dec(latent, m.ids_restore, (2, 3)).numpy()
    s = {k: v.numpy() for k, v in dec.state_dict().items()}
    x = latent.numpy() @ s["decoder_embed.weight"].T + s["decoder_embed.bias"]
    pos = sincos_2d_position_embedding(16, 2, 3).numpy()
    for b in range(2):
        full = np.repeat(s["mask_token"][0], 6, axis=0)  # masked patches get the mask token ...
        full[m.ids_keep[b].numpy()] = x[b, 1:]  # ... visible patch j gets the j-th visible token
        seq = np.concatenate([x[b, :1], full]) + pos
        ref = _layer_norm(seq, s["decoder_norm.weight"], s["decoder_norm.bias"]) @ s["decoder_pred.weight"].T
        np.testing.assert_allclose(got[b], (ref + s["decoder_pred.bias"])[1:], atol=1e-5)
    assert got.shape == (2, 6, 12)


def test_ecamp_sizes_and_init() -> None:
    dec = MAEDecoder(embed_dim=768, patch_size=16)  # [ECAMP] ecamp(): 512 wide, 4 blocks, 16 heads
    assert dec.decoder_embed.out_features == 512 and len(dec.decoder_blocks) == 4
    assert dec.decoder_blocks[0].attn.num_heads == 16 and dec.decoder_pred.out_features == 16 * 16 * 3
    assert dec.decoder_blocks[0].mlp.fc1.out_features == 2048 and dec.decoder_norm.eps == 1e-6
    bound = (6 / (512 + 768)) ** 0.5  # xavier-uniform [MAE]
    assert dec.decoder_embed.weight.abs().max() <= bound and torch.all(dec.decoder_embed.bias == 0)
    assert 0.01 < float(dec.mask_token.detach().std()) < 0.03


def test_vit_block_is_prenorm_residual() -> None:
    block = ViTBlock(8, 2).eval()
    for p in list(block.attn.proj.parameters()) + list(block.mlp.fc2.parameters()):
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 5, 8)
    assert torch.equal(block(x), x)  # zero output projections: both residual branches add nothing


def test_load_mae_decoder_state() -> None:
    dec = MAEDecoder(embed_dim=8, patch_size=2, decoder_dim=16, depth=2, num_heads=2)
    source = MAEDecoder(embed_dim=8, patch_size=2, decoder_dim=16, depth=3, num_heads=2)  # MAE: more blocks
    state = {k: v.clone() for k, v in source.state_dict().items()}
    state["decoder_pos_embed"] = torch.zeros(1, 7, 16)
    skipped = dec.load_mae_state(state)
    assert skipped == sorted([k for k in state if k.startswith("decoder_blocks.2.")] + ["decoder_pos_embed"])
    assert torch.equal(dec.decoder_blocks[1].attn.qkv.weight, source.decoder_blocks[1].attn.qkv.weight)
    del state["decoder_norm.weight"]
    with pytest.raises(ValueError, match="decoder_norm.weight"):
        dec.load_mae_state(state)


def test_shape_errors() -> None:
    dec = MAEDecoder(embed_dim=8, patch_size=2, decoder_dim=16, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="do not fit"):
        dec(torch.randn(2, 3, 8), torch.arange(6).expand(2, -1), (2, 2))

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from raddino_monai.models import RadDinoBackbone, create_backbone


def _reference_embeddings(backbone: RadDinoBackbone, x: torch.Tensor) -> torch.Tensor:
    """Patch embedding + CLS + position embeddings resized bicubically to the exact grid (no antialias)."""
    emb = backbone.model.embeddings
    patches = emb.patch_embeddings.projection(x).flatten(2).transpose(1, 2)
    pos = emb.position_embeddings
    side = int((pos.shape[1] - 1) ** 0.5)
    h, w = backbone.grid_size(x)
    grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    if (h, w) != (side, side):
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
    pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)
    return torch.cat([emb.cls_token.expand(x.shape[0], -1, -1), patches], dim=1) + pos


def test_forward_is_normed_cls(tiny_p16: RadDinoBackbone) -> None:
    x = torch.randn(2, 3, 112, 112)
    out = tiny_p16.model(pixel_values=x)
    torch.testing.assert_close(tiny_p16(x), out.last_hidden_state[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(tiny_p16(x), out.pooler_output, rtol=0, atol=0)


@pytest.mark.parametrize("hw,grid", [((112, 112), (8, 8)), ((224, 224), (16, 16)), ((518, 518), (37, 37)),
                                     ((112, 168), (8, 12)), ((130, 100), (9, 7))])
def test_position_interpolation_and_grid(tiny_p14: RadDinoBackbone, hw: tuple[int, int], grid: tuple[int, int]) -> None:
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        expected = _reference_embeddings(tiny_p14, x)
        torch.testing.assert_close(tiny_p14.model.embeddings(x), expected, rtol=1e-5, atol=1e-5)
        feats = tiny_p14.forward_features(x)
        tokens = tiny_p14.model(pixel_values=x).last_hidden_state
    assert feats["patch_grid"].shape == (1, 192, *grid)
    # row-major: token r * w + c is grid cell (r, c)
    r, c = grid[0] - 1, 1
    torch.testing.assert_close(feats["patch_grid"][0, :, r, c], tokens[0, 1 + r * grid[1] + c], rtol=0, atol=0)
    torch.testing.assert_close(feats["cls_token"], tokens[:, 0], rtol=0, atol=0)


def test_mask_token_replaces_patch_embeddings(tiny_p14: RadDinoBackbone) -> None:
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        tiny_p14.model.embeddings.mask_token.normal_()
        masks = torch.zeros(2, 64, dtype=torch.bool)
        masks[0, [0, 5, 63]] = True
        unmasked = tiny_p14.forward_features(x)
        none_masked = tiny_p14.forward_features(x, torch.zeros_like(masks))
        masked = tiny_p14.forward_features(x, masks)
        emb = tiny_p14.model.embeddings(x, bool_masked_pos=masks)
        ref = _reference_embeddings(tiny_p14, x)
        ref_pos = ref - torch.cat([tiny_p14.model.embeddings.cls_token.expand(2, -1, -1),
                                   tiny_p14.model.embeddings.patch_embeddings(x)], dim=1)
    torch.testing.assert_close(none_masked["cls_token"], unmasked["cls_token"], rtol=0, atol=0)
    # masked patch = mask token + its position embedding; others unchanged
    expected = tiny_p14.model.embeddings.mask_token[0] + ref_pos[0, 1 + 5]
    torch.testing.assert_close(emb[0, 1 + 5], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(emb[1], ref[1], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(masked["cls_token"][0], unmasked["cls_token"][0])
    torch.testing.assert_close(masked["cls_token"][1], unmasked["cls_token"][1], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(2, 64\)"):
        tiny_p14.forward_features(x, torch.zeros(2, 63, dtype=torch.bool))


def test_intermediates(tiny_p16: RadDinoBackbone) -> None:
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        outs = tiny_p16.forward_intermediates(x, indices=(1, 3, 6))
        raw = tiny_p16.forward_intermediates(x, indices=(-1,), norm=False)
        hidden = tiny_p16.model(pixel_values=x, output_hidden_states=True).hidden_states
        feats = tiny_p16.forward_features(x)
    assert [o.shape for o in outs] == [(2, 192, 6, 8)] * 3
    torch.testing.assert_close(outs[-1], feats["patch_grid"], rtol=1e-5, atol=1e-5)
    expected = tiny_p16.model.layernorm(hidden[3])[:, 1:].transpose(1, 2).reshape(2, 192, 6, 8)
    torch.testing.assert_close(outs[1], expected, rtol=0, atol=0)
    torch.testing.assert_close(raw[0], hidden[6][:, 1:].transpose(1, 2).reshape(2, 192, 6, 8), rtol=0, atol=0)
    with pytest.raises(ValueError, match="out of range"):
        tiny_p16.forward_intermediates(x, indices=(7,))


def test_registers_are_stripped() -> None:
    backbone = create_backbone("tiny_vit_p14", num_register_tokens=4).eval()
    x = torch.randn(1, 3, 112, 84)
    with torch.no_grad():
        tokens = backbone.model(pixel_values=x).last_hidden_state
        feats = backbone.forward_features(x)
        inter = backbone.forward_intermediates(x, indices=(6,))
        attn = backbone.attention_maps(x)
    assert tokens.shape[1] == 1 + 4 + 48
    torch.testing.assert_close(feats["patch_tokens"], tokens[:, 5:], rtol=0, atol=0)
    assert feats["patch_grid"].shape == inter[0].shape == (1, 192, 8, 6)
    assert attn.shape == (1, 3, 53, 53)


def test_attention_maps_eager_only_when_asked(tiny_p16: RadDinoBackbone) -> None:
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        attn = tiny_p16.attention_maps(x)
        after = tiny_p16(x)
    assert attn.shape == (2, 3, 21, 21)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3, 21))
    assert tiny_p16.model.config._attn_implementation == "sdpa"
    eager = create_backbone("tiny_vit_p16", attn_implementation="eager").eval()
    eager.load_state_dict(tiny_p16.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(eager(x), after, rtol=1e-4, atol=1e-4)


def test_layer_ids_and_param_flags(tiny_p16: RadDinoBackbone) -> None:
    ids = {name: tiny_p16.layer_id(name) for name, _ in tiny_p16.named_parameters()}
    assert ids["model.embeddings.patch_embeddings.projection.weight"] == 0
    assert ids["model.embeddings.cls_token"] == ids["model.embeddings.mask_token"] == 0
    assert ids["model.embeddings.position_embeddings"] == 0
    assert ids["model.encoder.layer.0.norm1.weight"] == 1 and ids["model.encoder.layer.5.mlp.fc2.bias"] == 6
    assert ids["model.layernorm.weight"] == 7 and set(ids.values()) == set(range(8))
    assert tiny_p16.layer_id("encoder.layer.2.layer_scale1.lambda1") == 3  # relative to the HF model works too
    patch = [n for n in ids if tiny_p16.is_patch_embed(n)]
    assert patch == [f"model.embeddings.patch_embeddings.projection.{p}" for p in ("weight", "bias")]
    no_wd = {n for n in ids if tiny_p16.no_weight_decay(n)}
    assert "model.encoder.layer.0.layer_scale1.lambda1" in no_wd and "model.layernorm.weight" in no_wd
    assert "model.encoder.layer.0.mlp.fc1.bias" in no_wd and "model.encoder.layer.0.norm2.weight" in no_wd
    assert "model.encoder.layer.0.mlp.fc1.weight" not in no_wd and "model.embeddings.cls_token" not in no_wd


def test_grad_checkpointing_same_outputs_and_grads() -> None:
    x = torch.randn(2, 3, 64, 64)
    plain = create_backbone("tiny_vit_p16").train()
    ckpt = create_backbone("tiny_vit_p16").train()
    ckpt.load_state_dict(plain.state_dict())
    ckpt.set_grad_checkpointing(True)
    assert ckpt.grad_checkpointing
    for m in (plain, ckpt):
        m.forward_features(x)["patch_tokens"].square().mean().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)
    ckpt.set_grad_checkpointing(False)
    assert not ckpt.grad_checkpointing


def test_drop_path_is_stochastic_in_training_only() -> None:
    backbone = create_backbone("tiny_vit_p16", drop_path_rate=0.5)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.manual_seed(1)
        a = backbone.train()(x)
        torch.manual_seed(2)
        b = backbone(x)
        backbone.eval()
        torch.testing.assert_close(backbone(x), backbone(x), rtol=0, atol=0)
    assert not torch.allclose(a, b)


def test_four_level_intermediates_of_a_12_block_model() -> None:
    """Default indices (4, 6, 9, 12): the 4-level input of UPerNet / ViTDet heads, layer-normed (B, D, h, w)."""
    backbone = create_backbone("tiny_vit_p14", num_hidden_layers=12, hidden_size=48, num_attention_heads=3).eval()
    x = torch.randn(2, 3, 56, 70)
    with torch.no_grad():
        levels = backbone.forward_intermediates(x)
        hidden = backbone.model(pixel_values=x, output_hidden_states=True).hidden_states
    assert len(levels) == 4 and all(level.shape == (2, 48, 4, 5) for level in levels)
    for level, block in zip(levels, (4, 6, 9, 12)):
        expected = backbone.model.layernorm(hidden[block])[:, 1:].transpose(1, 2).reshape(2, 48, 4, 5)
        torch.testing.assert_close(level, expected, rtol=0, atol=0)


def test_grad_checkpointing_recomputes_blocks() -> None:
    """With checkpointing on, each block's inside runs again during backward (activations were not kept)."""
    backbone = create_backbone("tiny_vit_p16").train()
    calls: list[int] = []
    backbone.model.encoder.layer[0].mlp.register_forward_hook(lambda *args: calls.append(1))
    x = torch.randn(1, 3, 32, 32)
    backbone(x).sum().backward()
    assert len(calls) == 1
    backbone.set_grad_checkpointing(True)
    calls.clear()
    backbone(x).sum().backward()
    assert len(calls) == 2


def test_last_cls_tokens_are_the_normed_block_outputs() -> None:
    backbone = create_backbone("tiny_vit_p14").eval()
    x = torch.rand(2, 3, 28, 28)
    with torch.no_grad():
        tokens = backbone.last_cls_tokens(x, 2)
        hidden = backbone.model(pixel_values=x, output_hidden_states=True).hidden_states
        torch.testing.assert_close(tokens[:, -1], backbone(x), atol=1e-5, rtol=1e-5)
    assert tokens.shape == (2, 2, backbone.embed_dim)
    torch.testing.assert_close(tokens[:, 0], backbone.model.layernorm(hidden[-2][:, 0]))
    with pytest.raises(ValueError, match="n must be in"):
        backbone.last_cls_tokens(x, backbone.num_layers + 1)

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from raddino_monai.models import create_backbone, get_backbone_spec, list_backbones
from raddino_monai.models.weights import (
    CheckpointError,
    dinov2_to_hf,
    hf_to_dinov2,
    memory_to_released,
    released_state_dict,
    released_to_memory,
)
from raddino_monai.models.weights.dinov2_keys import normalize_block_chunks


def _expected_dinov2_shapes(name: str, registers: int = 0) -> dict[str, tuple[int, ...]]:
    """DINOv2 ``DinoVisionTransformer`` parameter names and shapes, written out from vision_transformer.py [DV2]."""
    s = get_backbone_spec(name)
    d, p = s.hidden_size, s.patch_size
    n = (s.image_size // p) ** 2 + 1
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d), "pos_embed": (1, n, d), "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, p, p), "patch_embed.proj.bias": (d,), "norm.weight": (d,), "norm.bias": (d,),
    }
    if registers:
        shapes["register_tokens"] = (1, registers, d)
    hidden = d * s.mlp_ratio
    swiglu_hidden = (int(hidden * 2 / 3) + 7) // 8 * 8  # SwiGLUFFNFused
    for i in range(s.num_hidden_layers):
        b = f"blocks.{i}."
        shapes.update({
            b + "norm1.weight": (d,), b + "norm1.bias": (d,), b + "norm2.weight": (d,), b + "norm2.bias": (d,),
            b + "attn.qkv.weight": (3 * d, d), b + "attn.qkv.bias": (3 * d,),
            b + "attn.proj.weight": (d, d), b + "attn.proj.bias": (d,), b + "ls1.gamma": (d,), b + "ls2.gamma": (d,),
        })
        if s.use_swiglu_ffn:
            shapes.update({b + "mlp.w12.weight": (2 * swiglu_hidden, d), b + "mlp.w12.bias": (2 * swiglu_hidden,),
                           b + "mlp.w3.weight": (d, swiglu_hidden), b + "mlp.w3.bias": (d,)})
        else:
            shapes.update({b + "mlp.fc1.weight": (hidden, d), b + "mlp.fc1.bias": (hidden,),
                           b + "mlp.fc2.weight": (d, hidden), b + "mlp.fc2.bias": (d,)})
    return shapes


@pytest.mark.parametrize("name", list_backbones())
def test_every_parameter_maps_both_ways(name: str) -> None:
    with torch.device("meta"):
        backbone = create_backbone(name)
    memory = backbone.model.state_dict()
    dinov2 = hf_to_dinov2(memory_to_released(memory))
    assert {k: tuple(v.shape) for k, v in dinov2.items()} == _expected_dinov2_shapes(name)
    back = released_to_memory(dinov2_to_hf(dinov2), memory.keys())
    assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in memory.items()}


def test_registers_map_both_ways() -> None:
    with torch.device("meta"):
        backbone = create_backbone("dinov2_vitb14", num_register_tokens=4)
    memory = backbone.model.state_dict()
    dinov2 = hf_to_dinov2(memory_to_released(memory))
    assert {k: tuple(v.shape) for k, v in dinov2.items()} == _expected_dinov2_shapes("dinov2_vitb14", registers=4)
    assert set(released_to_memory(dinov2_to_hf(dinov2), memory.keys())) == set(memory)


def test_released_naming() -> None:
    backbone = create_backbone("tiny_vit_p16", use_swiglu_ffn=True)
    keys = set(released_state_dict(backbone))
    assert "encoder.layer.0.attention.attention.query.weight" in keys
    assert "encoder.layer.0.attention.output.dense.bias" in keys
    assert "encoder.layer.0.layer_scale1.lambda1" in keys and "encoder.layer.0.mlp.weights_in.weight" in keys
    assert not any(tag in k for k in keys for tag in ("q_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))


def test_values_roundtrip_exactly() -> None:
    backbone = create_backbone("tiny_vit_p14", use_swiglu_ffn=True)
    memory = backbone.model.state_dict()
    dinov2 = hf_to_dinov2(memory_to_released(memory))
    d = backbone.embed_dim
    torch.testing.assert_close(dinov2["blocks.2.attn.qkv.weight"][d : 2 * d], released_state_dict(backbone)[
        "encoder.layer.2.attention.attention.key.weight"], rtol=0, atol=0)
    back = released_to_memory(dinov2_to_hf(dinov2), memory.keys())
    for key, value in memory.items():
        torch.testing.assert_close(back[key], value, rtol=0, atol=0, msg=key)


def test_block_chunks_are_normalised() -> None:
    state = {k: torch.ones(2) for k in ("blocks.0.0.norm1.weight", "blocks.1.3.ls1.gamma", "norm.bias")}
    assert set(normalize_block_chunks(state)) == {"blocks.0.norm1.weight", "blocks.3.ls1.gamma", "norm.bias"}
    assert "encoder.layer.3.layer_scale1.lambda1" in dinov2_to_hf(state)


def test_strict_errors_list_keys() -> None:
    with pytest.raises(CheckpointError, match="head.weight"):
        dinov2_to_hf({"cls_token": torch.zeros(1, 1, 4), "head.weight": torch.zeros(2, 4)}, "ckpt.pth")
    with pytest.raises(CheckpointError, match="incomplete.*query"):
        hf_to_dinov2({"encoder.layer.0.attention.attention.query.weight": torch.zeros(4, 4)})
    with pytest.raises(CheckpointError, match="classifier.weight"):
        hf_to_dinov2({"classifier.weight": torch.zeros(4, 4)})


def _dinov2_reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, heads: int, eps: float) -> torch.Tensor:
    """DINOv2 ``DinoVisionTransformer.forward_features`` at native resolution, written from the DINOv2 code [DV2]."""
    w = sd["patch_embed.proj.weight"]
    t = F.conv2d(x, w, sd["patch_embed.proj.bias"], stride=w.shape[-1])
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([sd["cls_token"].expand(x.shape[0], -1, -1), t], dim=1) + sd["pos_embed"]
    d = t.shape[-1]
    for i in range(len({k.split(".")[1] for k in sd if k.startswith("blocks.")})):
        p = lambda n: sd[f"blocks.{i}.{n}"]  # noqa: E731
        y = F.layer_norm(t, (d,), p("norm1.weight"), p("norm1.bias"), eps)
        qkv = F.linear(y, p("attn.qkv.weight"), p("attn.qkv.bias")).reshape(*t.shape[:2], 3, heads, d // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = ((q * (d // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1) @ v
        y = F.linear(a.transpose(1, 2).reshape(t.shape), p("attn.proj.weight"), p("attn.proj.bias"))
        t = t + p("ls1.gamma") * y
        y = F.layer_norm(t, (d,), p("norm2.weight"), p("norm2.bias"), eps)
        if f"blocks.{i}.mlp.w12.weight" in sd:
            x1, x2 = F.linear(y, p("mlp.w12.weight"), p("mlp.w12.bias")).chunk(2, dim=-1)
            y = F.linear(F.silu(x1) * x2, p("mlp.w3.weight"), p("mlp.w3.bias"))
        else:
            y = F.gelu(F.linear(y, p("mlp.fc1.weight"), p("mlp.fc1.bias")))
            y = F.linear(y, p("mlp.fc2.weight"), p("mlp.fc2.bias"))
        t = t + p("ls2.gamma") * y
    return F.layer_norm(t, (d,), sd["norm.weight"], sd["norm.bias"], eps)


@pytest.mark.parametrize("swiglu", [False, True])
def test_dinov2_weights_give_dinov2_outputs(swiglu: bool) -> None:
    """A DINOv2-named state dict, loaded through the mapping, computes what DINOv2's own code computes."""
    source = create_backbone("tiny_vit_p14", use_swiglu_ffn=swiglu, layerscale_value=0.5)
    dinov2 = hf_to_dinov2(released_state_dict(source))
    dinov2 = {k: v + 0.01 * torch.randn_like(v) for k, v in dinov2.items()}  # arbitrary values everywhere
    target = create_backbone("tiny_vit_p14", use_swiglu_ffn=swiglu).eval()
    target.model.load_state_dict(released_to_memory(dinov2_to_hf(dinov2), target.model.state_dict().keys()))
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        expected = _dinov2_reference_forward(dinov2, x, heads=3, eps=1e-6)
        got = target.model(pixel_values=x).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


# --- MAE / timm naming (ECAMP's encoder) ---


def _timm_state(backbone) -> dict[str, torch.Tensor]:
    """MAE/timm-named weights with arbitrary values (LayerScale 1 stays implicit: that naming has none)."""
    from raddino_monai.models.weights import hf_to_timm

    return {k: v + 0.01 * torch.randn_like(v) for k, v in hf_to_timm(released_state_dict(backbone)).items()}


def test_timm_names_and_round_trip() -> None:
    from raddino_monai.models.weights import hf_to_timm, timm_to_hf

    backbone = create_backbone("tiny_vit_p16", num_hidden_layers=2)
    timm = hf_to_timm(released_state_dict(backbone))
    assert {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.1.attn.qkv.weight", "blocks.0.attn.proj.bias",
            "blocks.0.mlp.fc2.weight", "norm.weight"} <= set(timm)
    assert not any("ls1" in k or "ls2" in k or k == "mask_token" for k in timm)
    released = released_state_dict(backbone)
    back = timm_to_hf(timm)
    assert set(back) == set(released)
    for key, value in released.items():
        torch.testing.assert_close(back[key], value, rtol=0, atol=0, msg=key)  # LayerScale 1, mask token 0


def test_mae_checkpoint_file_loads_and_computes_the_mae_vit(tmp_path) -> None:
    from reference.numpy_vit import vit_forward

    source = create_backbone("tiny_vit_p16", num_hidden_layers=2, image_size=64)
    timm = _timm_state(source)
    extra = {"decoder_embed.weight": torch.zeros(16, 192), "decoder_pos_embed": torch.zeros(1, 17, 16),
             "mask_token": torch.zeros(1, 1, 16), "decoder_blocks.0.attn.qkv.weight": torch.zeros(48, 16),
             "bert_mlp.weight": torch.zeros(8, 192), "super_res.conv1.weight": torch.zeros(3, 3, 3, 3)}
    torch.save({"model": {**timm, **extra}, "epoch": 3}, tmp_path / "mae_pretrain_vit.pth")  # MAE / ECAMP layout
    target = create_backbone("tiny_vit_p16", num_hidden_layers=2, image_size=64,
                             weights=tmp_path / "mae_pretrain_vit.pth").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = target.model(pixel_values=x).last_hidden_state
    ref = vit_forward({k: v.numpy() for k, v in timm.items()}, x.numpy(), num_heads=3)
    np.testing.assert_allclose(got.numpy(), ref, atol=2e-4)


def test_timm_errors() -> None:
    from raddino_monai.models.weights import hf_to_timm, timm_to_hf

    scaled = create_backbone("tiny_vit_p16", num_hidden_layers=1, layerscale_value=0.5)
    with pytest.raises(CheckpointError, match="LayerScale factors other than 1.*blocks.0.ls1.gamma"):
        hf_to_timm(released_state_dict(scaled))
    timm = _timm_state(create_backbone("tiny_vit_p16", num_hidden_layers=1))
    with pytest.raises(CheckpointError, match="fc_norm.weight"):
        timm_to_hf({**timm, "fc_norm.weight": torch.ones(192)}, "finetuned.pth")  # MAE global-pool fine-tune
    with pytest.raises(CheckpointError, match="LayerScale keys"):
        timm_to_hf({**timm, "blocks.0.ls1.gamma": torch.ones(192)})

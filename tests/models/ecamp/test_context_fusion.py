"""Context fusion: cross-attention shapes and maths at the fine (patch) scale, the coarse (global) scale, padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig

from raddino_monai.models.ecamp.context_fusion import ContextFusionLayer, ImageCrossAttention, additive_padding_mask

CONFIG = BertConfig(hidden_size=16, num_attention_heads=4, intermediate_size=32)


def _layer() -> ContextFusionLayer:
    torch.manual_seed(0)
    return ContextFusionLayer(CONFIG).eval()


@pytest.mark.parametrize("visible", [1, 5, 49])
def test_cross_attention_shapes_at_each_scale(visible: int) -> None:
    text, image = torch.randn(3, 9, 16), torch.randn(3, visible, 16)
    fused, attn = _layer()(text, torch.ones(3, 9), image)
    assert fused.shape == (3, 9, 16)  # every text token gets image context
    assert attn.shape == (3, 4, 9, visible)  # fine scale: (B, heads, T, K visible patches)
    torch.testing.assert_close(attn.sum(-1), torch.ones(3, 4, 9))
    layer = _layer()
    gap_in = []
    layer.gap_mlp.register_forward_hook(lambda m, i, o: gap_in.append(i[0]))
    layer(text, torch.ones(3, 9), image)
    assert gap_in[0].shape == (3, 1, 16)  # coarse scale: one global token per image (the patch mean by default)
    torch.testing.assert_close(gap_in[0], image.mean(1, keepdim=True))


def test_cross_attention_matches_numpy() -> None:
    att = ImageCrossAttention(CONFIG).eval()
    text, image = torch.randn(2, 5, 16), torch.randn(2, 3, 16)
    with torch.no_grad():
        ctx, probs = att(text, image)
    s = {k: v.numpy().astype(np.float64) for k, v in att.state_dict().items()}

    def heads(x: np.ndarray) -> np.ndarray:
        return x.reshape(2, -1, 4, 4).transpose(0, 2, 1, 3)

    q = heads(text.numpy() @ s["query.weight"].T + s["query.bias"])
    k = heads(image.numpy() @ s["key.weight"].T + s["key.bias"])
    v = heads(image.numpy() @ s["value.weight"].T + s["value.bias"])
    scores = q @ k.transpose(0, 1, 3, 2) / 2.0  # sqrt(d_head = 4)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(probs.numpy(), p, atol=1e-6)
    np.testing.assert_allclose(ctx.numpy(), (p @ v).transpose(0, 2, 1, 3).reshape(2, 5, 16), atol=1e-5)


def test_global_token_is_used() -> None:
    layer = _layer()
    text, image = torch.randn(2, 6, 16), torch.randn(2, 4, 16)
    with torch.no_grad():
        a, _ = layer(text, torch.ones(2, 6), image)
        b, _ = layer(text, torch.ones(2, 6), image, global_token=torch.randn(2, 1, 16))
        c, _ = layer(text, torch.ones(2, 6), image, global_token=image.mean(1, keepdim=True))
    assert not torch.allclose(a, b) and torch.equal(a, c)


def test_padding_does_not_leak() -> None:
    layer = _layer()
    text, image = torch.randn(2, 7, 16), torch.randn(2, 4, 16)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0], [1] * 7])
    other = text.clone()
    other[0, 4:] = torch.randn(3, 16) * 10
    with torch.no_grad():
        a, _ = layer(text, mask, image)
        b, _ = layer(other, mask, image)
    torch.testing.assert_close(a[0, :4], b[0, :4])
    m = additive_padding_mask(mask, torch.float32)
    assert m.shape == (2, 1, 1, 7) and m[0, 0, 0, 5] == torch.finfo(torch.float32).min and m[1].max() == 0


def test_names_follow_ecamp() -> None:
    names = {k.rsplit(".", 1)[0] for k in _layer().state_dict()}
    # [ECAMP] context_fusion.py: attention, cross_self_attention, gap_mlp, out_layer, intermediate, output
    assert {"attention.self.query", "attention.output.dense", "cross_self_attention.key", "gap_mlp",
            "out_layer.dense", "out_layer.LayerNorm", "intermediate.dense", "output.dense"} <= names


def test_width_mismatch() -> None:
    with pytest.raises(ValueError, match="same batch size and width"):
        _layer()(torch.randn(2, 5, 16), torch.ones(2, 5), torch.randn(2, 3, 8))

from __future__ import annotations

import pytest
import torch

from raddino_monai.evaluation.features import FrozenEncoder, pooled_dim


@pytest.mark.parametrize("pooling,n,width", [("cls", 4, 1), ("cls_patchmean", 4, 2), ("last_n_cls", 3, 3)])
def test_pooled_shapes(tiny_backbone: torch.nn.Module, pooling: str, n: int, width: int) -> None:
    enc = FrozenEncoder(tiny_backbone, pooling=pooling, n_last_blocks=n)
    out = enc(torch.rand(2, 3, 28, 28))
    assert out.shape == (2, 192 * width) == (2, pooled_dim(192, pooling, n))
    assert not out.requires_grad


def test_pooling_contents(tiny_backbone: torch.nn.Module) -> None:
    x = torch.rand(2, 3, 42, 42)
    cls = FrozenEncoder(tiny_backbone, "cls")(x)
    both = FrozenEncoder(tiny_backbone, "cls_patchmean")(x)
    last = FrozenEncoder(tiny_backbone, "last_n_cls", n_last_blocks=2)(x)
    feats = tiny_backbone.forward_features(x)
    torch.testing.assert_close(both[:, :192], cls)
    torch.testing.assert_close(both[:, 192:], feats["patch_tokens"].mean(1))
    torch.testing.assert_close(last[:, 192:], cls, atol=1e-5, rtol=1e-5)  # last block's normed CLS comes last
    assert not torch.allclose(last[:, :192], cls)


def test_encoder_stays_frozen(tiny_backbone: torch.nn.Module) -> None:
    enc = FrozenEncoder(tiny_backbone).train()
    assert not tiny_backbone.training
    assert not any(p.requires_grad for p in tiny_backbone.parameters())
    with pytest.raises(ValueError, match="valid values"):
        FrozenEncoder(tiny_backbone, pooling="gem")
    with pytest.raises(ValueError, match="n_last_blocks"):
        FrozenEncoder(tiny_backbone, "last_n_cls", n_last_blocks=7)
    assert enc.out_dim == 192

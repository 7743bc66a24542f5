"""DINOv2 parameter groups on a tiny fake ViT: layer-wise lr decay, patch-embed x0.2, no wd on 1-D, last layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from raddino_monai.models.dino_head import DINOHead
from raddino_monai.ssl.param_groups import apply_schedule_values, build_param_groups

L, D = 3, 8

#: [DV2] ``optim.layerwise_decay`` / ``optim.patch_embed_lr_mult`` for ViT-S/B (``OptimConfig`` defaults)
DV2 = {"layer_decay": 0.9, "patch_embed_lr_mult": 0.2}


class FakeBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(D)
        self.attn = nn.Linear(D, D)
        self.gamma = nn.Parameter(torch.ones(D))  # LayerScale


class FakeViT(nn.Module):
    """DINOv2-like names; ``layer_id`` as the backbone contract defines it."""

    def __init__(self, with_layer_id: bool = True) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, D, kernel_size=2, stride=2)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, D))
        self.blocks = nn.ModuleList(FakeBlock() for _ in range(L))
        self.norm = nn.LayerNorm(D)
        self.num_layers = L
        if not with_layer_id:
            self.layer_id = None  # type: ignore[assignment]

    def layer_id(self, name: str) -> int:  # type: ignore[no-redef]
        if name.startswith(("patch_embed", "cls_token", "pos_embed")):
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return L + 1


def _lookup(groups: list[dict]) -> dict[str, tuple[float, float, bool]]:
    return {
        name: (g["lr_multiplier"], g["wd_multiplier"], g["is_last_layer"]) for g in groups for name in g["param_names"]
    }


def test_multipliers_and_flags() -> None:
    backbone, head = FakeViT(), DINOHead(D, out_dim=12, hidden_dim=8, bottleneck_dim=4)
    groups = build_param_groups({"backbone": backbone, "dino_head": head, "ibot_head": head}, **DV2)
    table = _lookup(groups)
    assert table["backbone.patch_embed.weight"] == (pytest.approx(0.9 ** (L + 1) * 0.2), 1.0, False)
    assert table["backbone.patch_embed.bias"] == (pytest.approx(0.9 ** (L + 1) * 0.2), 0.0, False)
    assert table["backbone.cls_token"] == (pytest.approx(0.9 ** (L + 1)), 1.0, False)
    assert table["backbone.pos_embed"] == (pytest.approx(0.9 ** (L + 1)), 1.0, False)
    for i in range(L):
        decay = pytest.approx(0.9 ** (L - i))
        assert table[f"backbone.blocks.{i}.attn.weight"] == (decay, 1.0, False)
        assert table[f"backbone.blocks.{i}.attn.bias"] == (decay, 0.0, False)
        assert table[f"backbone.blocks.{i}.norm1.weight"] == (decay, 0.0, False)
        assert table[f"backbone.blocks.{i}.gamma"] == (decay, 0.0, False)
    assert table["backbone.norm.weight"] == (1.0, 0.0, False)
    assert table["dino_head.mlp.0.weight"] == (1.0, 1.0, False)
    assert table["dino_head.last_layer.parametrizations.weight.original0"] == (1.0, 1.0, True)  # (K, 1): decayed
    assert table["dino_head.last_layer.parametrizations.weight.original1"] == (1.0, 1.0, True)
    assert not any(name.startswith("ibot_head.") for name in table)  # shared head listed once
    n_params = len(list(backbone.parameters())) + len(list(head.parameters()))
    assert sum(len(g["params"]) for g in groups) == n_params
    assert len(groups) == len({(g["lr_multiplier"], g["wd_multiplier"], g["is_last_layer"]) for g in groups})


def test_explicit_callables_and_frozen_parameters() -> None:
    backbone = FakeViT(with_layer_id=False)
    backbone.cls_token.requires_grad_(False)
    groups = build_param_groups(
        {"backbone": backbone},
        layer_decay=0.5,
        patch_embed_lr_mult=1.0,
        num_layers=L,
        layer_id_fn=FakeViT.layer_id.__get__(backbone),
        patch_embed_fn=lambda name: name == "pos_embed",
    )
    table = _lookup(groups)
    assert "backbone.cls_token" not in table
    assert table["backbone.patch_embed.weight"][0] == pytest.approx(0.5 ** (L + 1))
    assert table["backbone.pos_embed"][0] == pytest.approx(0.5 ** (L + 1))


def test_optimizer_and_schedule_values() -> None:
    backbone, head = FakeViT(), DINOHead(D, out_dim=12, hidden_dim=8, bottleneck_dim=4)
    optimizer = torch.optim.AdamW(build_param_groups({"backbone": backbone, "dino_head": head}, **DV2),
                                  betas=(0.9, 0.999))
    apply_schedule_values(optimizer, lr=1e-3, weight_decay=0.04, last_layer_lr=0.0)
    for group in optimizer.param_groups:
        base = 0.0 if group["is_last_layer"] else 1e-3
        assert group["lr"] == pytest.approx(base * group["lr_multiplier"])
        assert group["weight_decay"] == pytest.approx(0.04 * group["wd_multiplier"])
    loss = head(backbone.blocks[0].attn(torch.randn(2, D))).sum() + backbone.patch_embed(torch.randn(1, 3, 4, 4)).sum()
    loss.backward()
    frozen = head.last_layer.parametrizations.weight.original1.detach().clone()
    optimizer.step()
    torch.testing.assert_close(head.last_layer.parametrizations.weight.original1.detach(), frozen)


def test_missing_layer_id_is_an_error() -> None:
    with pytest.raises(ValueError, match="layer_id_fn"):
        build_param_groups({"backbone": nn.Linear(2, 2)}, **DV2)
    with pytest.raises(ValueError, match="outside"):
        build_param_groups({"backbone": FakeViT()}, layer_id_fn=lambda name: L + 5, **DV2)


def test_real_backbone_contract() -> None:
    """With the package backbone (layer_id / is_patch_embed / num_layers), DINOv2's multipliers come out."""
    from raddino_monai.models import create_backbone

    backbone = create_backbone("tiny_vit_p14")
    table = _lookup(build_param_groups({"backbone": backbone}, **DV2))
    n = backbone.num_layers
    assert table["backbone.model.embeddings.patch_embeddings.projection.weight"][:2] == (
        pytest.approx(0.9 ** (n + 1) * 0.2),
        1.0,
    )
    assert table["backbone.model.embeddings.cls_token"][:2] == (pytest.approx(0.9 ** (n + 1)), 1.0)
    assert table["backbone.model.encoder.layer.0.layer_scale1.lambda1"][:2] == (pytest.approx(0.9**n), 0.0)
    assert table[f"backbone.model.encoder.layer.{n - 1}.mlp.fc1.weight"][:2] == (pytest.approx(0.9), 1.0)
    assert table["backbone.model.layernorm.weight"][:2] == (1.0, 0.0)

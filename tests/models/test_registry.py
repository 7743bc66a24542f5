from __future__ import annotations

import pytest
import torch
from transformers import Dinov2Model, Dinov2WithRegistersModel

from raddino_monai.models import create_backbone, get_backbone_spec, list_backbones
from raddino_monai.models.registry import build_hf_config


def test_names_match_contract() -> None:
    assert list_backbones() == sorted(
        ["raddino_vitb14", "dinov2_vits14", "dinov2_vitb14", "dinov2_vitl14", "dinov2_vitg14", "mae_vitb16"]
        + ["tiny_vit_p16", "tiny_vit_p14"]
    )


def test_raddino_spec_matches_hf_config() -> None:
    # [HF] microsoft/rad-dino config.json
    config = build_hf_config(get_backbone_spec("raddino_vitb14"))
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert (config.patch_size, config.image_size, config.mlp_ratio) == (14, 518, 4)
    assert config.layer_norm_eps == 1e-6 and config.qkv_bias and not config.use_swiglu_ffn
    assert config.layerscale_value == 1.0 and config.drop_path_rate == 0.0 and config.hidden_act == "gelu"
    assert config.architectures == ["Dinov2Model"] and not hasattr(config, "num_register_tokens")


def test_mae_vitb16_is_the_mae_vit_base() -> None:
    # [MAE] models_mae.py mae_vit_base_patch16: 768 wide, 12 blocks, 12 heads, patch 16 at 224 px, eps 1e-6
    config = build_hf_config(get_backbone_spec("mae_vitb16"))
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert (config.patch_size, config.image_size, config.mlp_ratio, config.layer_norm_eps) == (16, 224, 4, 1e-6)
    assert config.qkv_bias and config.layerscale_value == 1.0 and not config.use_swiglu_ffn


def test_vitg_uses_swiglu() -> None:
    spec = get_backbone_spec("dinov2_vitg14")
    assert (spec.hidden_size, spec.num_hidden_layers, spec.num_attention_heads) == (1536, 40, 24)
    assert spec.use_swiglu_ffn


def test_unknown_name_and_override_list_valid_values() -> None:
    with pytest.raises(ValueError, match="raddino_vitb14"):
        get_backbone_spec("vit_huge")
    with pytest.raises(ValueError, match="drop_path_rate"):
        create_backbone("tiny_vit_p16", drop_path=0.1)


def test_overrides_and_registers() -> None:
    backbone = create_backbone("tiny_vit_p14", drop_path_rate=0.2, num_register_tokens=4, image_size=56)
    assert isinstance(backbone.model, Dinov2WithRegistersModel)
    assert backbone.model.config.drop_path_rate == 0.2 and backbone.num_register_tokens == 4
    assert backbone.model.embeddings.position_embeddings.shape == (1, 17, 192)
    assert type(create_backbone("tiny_vit_p14").model) is Dinov2Model


@pytest.mark.parametrize("name", list_backbones())
def test_every_architecture_builds_on_meta(name: str) -> None:
    with torch.device("meta"):
        backbone = create_backbone(name)
    spec = get_backbone_spec(name)
    assert backbone.embed_dim == spec.hidden_size and backbone.num_layers == spec.num_hidden_layers
    n = (spec.image_size // spec.patch_size) ** 2 + 1
    assert backbone.model.embeddings.position_embeddings.shape == (1, n, spec.hidden_size)

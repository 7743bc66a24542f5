from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModel

from raddino_monai.models import RadDinoBackbone, backbone_from_hf_folder, create_backbone
from raddino_monai.models.weights import CheckpointError, export_dinov2_safetensors, export_hf_folder


def _weight_keys(path: Path) -> set[str]:
    with safe_open(str(path), "pt") as f:
        return set(f.keys())


def test_export_loads_in_plain_transformers(tiny_p14: RadDinoBackbone, tmp_path: Path) -> None:
    with torch.no_grad():
        tiny_p14.model.embeddings.mask_token.normal_()
    folder = export_hf_folder(tiny_p14, tmp_path / "hf")
    keys = _weight_keys(folder / "model.safetensors")
    assert "encoder.layer.0.attention.attention.query.weight" in keys and "encoder.layer.5.layer_scale2.lambda1" in keys
    assert not any("q_proj" in k or "o_proj" in k for k in keys)
    model, info = AutoModel.from_pretrained(str(folder), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    x = torch.randn(2, 3, 112, 140)
    masks = torch.rand(2, 80) < 0.3
    with torch.no_grad():
        ref = model.eval()(pixel_values=x, bool_masked_pos=masks).last_hidden_state
        ours = tiny_p14.model(pixel_values=x, bool_masked_pos=masks).last_hidden_state
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    assert pre["image_mean"] == [0.5307] * 3 and pre["image_std"] == [0.2583] * 3 and pre["resample"] == 3
    assert pre["crop_size"] == {"height": 112, "width": 112} and pre["size"] == {"shortest_edge": 112}


def _released_keys_4x(layers: int) -> set[str]:
    """``Dinov2Model.state_dict()`` keys of transformers 4.x (= microsoft/rad-dino ``model.safetensors``), written out
    from 4.x ``modeling_dinov2.py``: ``Dinov2Embeddings``, ``Dinov2Layer`` (``attention.attention.query/key/value``,
    ``attention.output.dense``, ``layer_scale1/2.lambda1``, ``mlp.fc1/fc2``), final ``layernorm``."""
    keys = {"embeddings.cls_token", "embeddings.mask_token", "embeddings.position_embeddings",
            "embeddings.patch_embeddings.projection.weight", "embeddings.patch_embeddings.projection.bias",
            "layernorm.weight", "layernorm.bias"}
    block = ["norm1", "attention.attention.query", "attention.attention.key", "attention.attention.value",
             "attention.output.dense", "norm2", "mlp.fc1", "mlp.fc2"]
    for i in range(layers):
        keys |= {f"encoder.layer.{i}.{m}.{p}" for m in block for p in ("weight", "bias")}
        keys |= {f"encoder.layer.{i}.layer_scale1.lambda1", f"encoder.layer.{i}.layer_scale2.lambda1"}
    return keys


def test_exported_keys_are_exactly_the_released_4x_naming(tiny_p14: RadDinoBackbone, tmp_path: Path) -> None:
    folder = export_hf_folder(tiny_p14, tmp_path / "hf")
    assert _weight_keys(folder / "model.safetensors") == _released_keys_4x(6)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "dinov2" and config["architectures"] == ["Dinov2Model"]
    assert {"hidden_size", "num_hidden_layers", "patch_size", "image_size", "layerscale_value"} <= set(config)


def test_hf_folder_roundtrip_and_transformers_saved_folders(tiny_p16: RadDinoBackbone, tmp_path: Path) -> None:
    export_hf_folder(tiny_p16, tmp_path / "ours", preprocessor_config={"image_processor_type": "BitImageProcessor"})
    tiny_p16.model.save_pretrained(str(tmp_path / "theirs"))  # transformers' own writer
    x = torch.randn(1, 3, 112, 112)
    for folder in ("ours", "theirs"):
        loaded = create_backbone("tiny_vit_p16", weights=tmp_path / folder).eval()
        from_config = backbone_from_hf_folder(tmp_path / folder).eval()
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), tiny_p16(x), rtol=0, atol=0)
            torch.testing.assert_close(from_config(x), tiny_p16(x), rtol=0, atol=0)


def test_registers_and_swiglu_export(tmp_path: Path) -> None:
    backbone = create_backbone("tiny_vit_p14", num_register_tokens=4, use_swiglu_ffn=True).eval()
    export_hf_folder(backbone, tmp_path / "reg")
    model = AutoModel.from_pretrained(str(tmp_path / "reg")).eval()
    assert type(model) is type(backbone.model)
    x = torch.randn(1, 3, 84, 112)
    with torch.no_grad():
        expected = backbone.model(pixel_values=x).last_hidden_state
        torch.testing.assert_close(model(pixel_values=x).last_hidden_state, expected, rtol=0, atol=0)
    assert "encoder.layer.0.mlp.weights_in.weight" in _weight_keys(tmp_path / "reg" / "model.safetensors")
    export_dinov2_safetensors(backbone, tmp_path / "reg.safetensors")
    again = create_backbone(
        "tiny_vit_p14", num_register_tokens=4, use_swiglu_ffn=True, weights=tmp_path / "reg.safetensors"
    )
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(x), backbone(x), rtol=0, atol=0)


def test_dinov2_file_roundtrip(tiny_p14: RadDinoBackbone, tmp_path: Path) -> None:
    path = export_dinov2_safetensors(tiny_p14, tmp_path / "backbone_compatible.safetensors")
    keys = _weight_keys(path)
    assert {"pos_embed", "mask_token", "blocks.0.attn.qkv.weight", "blocks.5.ls2.gamma", "norm.weight"} <= keys
    loaded = create_backbone("tiny_vit_p14", weights=path).eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(loaded.forward_features(x)["patch_grid"], tiny_p14.forward_features(x)["patch_grid"],
                                   rtol=0, atol=0)


def test_training_checkpoint_with_prefix(tiny_p14: RadDinoBackbone, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    export_dinov2_safetensors(tiny_p14, tmp_path / "b.safetensors")
    dv2 = load_file(str(tmp_path / "b.safetensors"))
    chunked = {k.replace("blocks.", f"blocks.{int(k.split('.')[1]) // 3}.", 1) if k.startswith("blocks.") else k: v
               for k, v in dv2.items()}  # block_chunks=2 layout
    ckpt = {"model": {**{f"teacher.backbone.{k}": v for k, v in chunked.items()},
                      **{f"student.backbone.{k}": v + 1 for k, v in chunked.items()}}, "iteration": 5}
    torch.save(ckpt, tmp_path / "model_final.rank_0.pth")
    with pytest.raises(CheckpointError, match="prefix"):
        create_backbone("tiny_vit_p14", weights=tmp_path / "model_final.rank_0.pth")
    ckpt_path = tmp_path / "model_final.rank_0.pth"
    loaded = create_backbone("tiny_vit_p14", weights=ckpt_path, prefix="model.teacher.backbone.")
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), tiny_p14(x), rtol=0, atol=0)


def test_mismatches_are_explained(tiny_p14: RadDinoBackbone, tmp_path: Path) -> None:
    export_hf_folder(tiny_p14, tmp_path / "hf")
    with pytest.raises(CheckpointError, match="num_hidden_layers"):
        create_backbone("tiny_vit_p14", num_hidden_layers=5, weights=tmp_path / "hf")
    path = export_dinov2_safetensors(tiny_p14, tmp_path / "b.safetensors")
    with pytest.raises(CheckpointError, match="image_size=112"):
        create_backbone("tiny_vit_p14", image_size=224, weights=path)
    with pytest.raises(CheckpointError, match="missing keys.*encoder.layer.6"):
        create_backbone("tiny_vit_p14", num_hidden_layers=7, weights=path)
    with pytest.raises(CheckpointError, match="not found"):
        create_backbone("tiny_vit_p14", weights=tmp_path / "missing")

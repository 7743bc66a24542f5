from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from raddino_monai.models import DINOHead, create_backbone, export_dinov2_safetensors, load_dino_head
from raddino_monai.models.weights.head_file import dino_head_state_dict_to_released
from raddino_monai.models.weights import CheckpointError, convert_head, convert_to_dinov2, convert_to_hf, infer_spec

TOOL = Path(__file__).resolve().parents[2] / "tools" / "convert_weights.py"


def _run_tool(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [str(TOOL), *args])
    runpy.run_path(str(TOOL), run_name="__main__")


def _keys(path: Path) -> set[str]:
    with safe_open(str(path), "pt") as f:
        return set(f.keys())


def test_cli_dinov2_to_hf_and_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backbone = create_backbone("tiny_vit_p14").eval()
    src = export_dinov2_safetensors(backbone, tmp_path / "backbone_compatible.safetensors")
    _run_tool(monkeypatch, "to_hf", str(src), str(tmp_path / "hf"), "--arch", "tiny_vit_p14")
    _run_tool(monkeypatch, "to_dinov2", str(tmp_path / "hf"), str(tmp_path / "again.safetensors"))
    assert _keys(tmp_path / "again.safetensors") == _keys(src)
    with safe_open(str(src), "pt") as a, safe_open(str(tmp_path / "again.safetensors"), "pt") as b:
        for key in a.keys():
            torch.testing.assert_close(a.get_tensor(key), b.get_tensor(key), rtol=0, atol=0)
    loaded = create_backbone("tiny_vit_p14", weights=tmp_path / "hf").eval()
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), backbone(x), rtol=0, atol=0)


def test_cli_help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run_tool(monkeypatch, "--help")
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "to_hf" in out and "to_dinov2" in out and "head" in out


def test_arch_inferred_from_shapes(tmp_path: Path) -> None:
    backbone = create_backbone("tiny_vit_p16", num_register_tokens=2, use_swiglu_ffn=True, image_size=64)
    src = export_dinov2_safetensors(backbone, tmp_path / "b.safetensors")
    folder = convert_to_hf(src, tmp_path / "hf")
    from raddino_monai.models.weights import read_backbone_weights

    spec = infer_spec(read_backbone_weights(folder)[0])
    assert (spec.hidden_size, spec.num_attention_heads, spec.patch_size, spec.image_size) == (192, 3, 16, 64)
    assert spec.use_swiglu_ffn and spec.num_register_tokens == 2 and spec.num_hidden_layers == 6
    assert "embeddings.register_tokens" in _keys(folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="384 wide|no registered"):
        infer_spec({"embeddings.position_embeddings": torch.zeros(1, 5, 100),
                    "embeddings.patch_embeddings.projection.weight": torch.zeros(100, 3, 8, 8)})


def test_head_conversion_both_namings(tmp_path: Path) -> None:
    head = DINOHead(in_dim=32, out_dim=64, hidden_dim=48, bottleneck_dim=16).eval()
    released = dino_head_state_dict_to_released(head.state_dict())
    src = tmp_path / "dino_head.safetensors"
    save_file({f"teacher.dino_head.{k}": v.contiguous() for k, v in released.items()}, str(src))
    out = convert_head(src, tmp_path / "param.safetensors", naming="parametrized")
    assert "last_layer.parametrizations.weight.original1" in _keys(out)
    back = convert_head(out, tmp_path / "released.safetensors")
    assert {"last_layer.weight_g", "last_layer.weight_v", "mlp.0.weight", "mlp.4.bias"} <= _keys(back)
    x = torch.randn(3, 32)
    with torch.no_grad():
        torch.testing.assert_close(load_dino_head(back).eval()(x), head(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="released"):
        convert_head(src, tmp_path / "x.safetensors", naming="timm")


def test_cli_head_and_training_checkpoint_to_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = DINOHead(in_dim=32, out_dim=64, hidden_dim=48, bottleneck_dim=16).eval()
    backbone = create_backbone("tiny_vit_p16").eval()
    export_dinov2_safetensors(backbone, tmp_path / "b.safetensors")
    with safe_open(str(tmp_path / "b.safetensors"), "pt") as f:
        dv2 = {k: f.get_tensor(k) for k in f.keys()}
    ckpt = {"model": {**{f"teacher.backbone.{k}": v for k, v in dv2.items()},
                      **{f"teacher.dino_head.{k}": v for k, v in head.state_dict().items()}}, "iteration": 7}
    torch.save(ckpt, tmp_path / "model_final.rank_0.pth")
    _run_tool(monkeypatch, "head", str(tmp_path / "model_final.rank_0.pth"), str(tmp_path / "dino_head.safetensors"),
              "--prefix", "model.teacher.dino_head.")
    assert {"last_layer.weight_g", "last_layer.weight_v"} <= _keys(tmp_path / "dino_head.safetensors")
    _run_tool(monkeypatch, "to_hf", str(tmp_path / "model_final.rank_0.pth"), str(tmp_path / "hf"),
              "--arch", "tiny_vit_p16", "--prefix", "model.teacher.backbone.")
    x, z = torch.randn(1, 3, 64, 64), torch.randn(2, 32)
    with torch.no_grad():
        torch.testing.assert_close(load_dino_head(tmp_path / "dino_head.safetensors").eval()(z), head(z))
        loaded = create_backbone("tiny_vit_p16", weights=tmp_path / "hf").eval()
        torch.testing.assert_close(loaded(x), backbone(x), rtol=0, atol=0)


class Evil:
    """Pickled as a code reference, which weights_only loading refuses."""


def test_to_dinov2_refuses_pickled_code(tmp_path: Path) -> None:
    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="evil.pth"):
        convert_to_dinov2(tmp_path / "evil.pth", tmp_path / "out.safetensors")

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from raddino_monai.models.weights import CheckpointError, load_checkpoint
from raddino_monai.models.weights.safe_load import is_safetensors_file, select_prefix


class _Payload:
    """A custom class: pickling it embeds code references that weights_only loading must refuse."""

    def __init__(self) -> None:
        self.weight = torch.zeros(2)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": _Payload()}, path)
    with pytest.raises(CheckpointError, match=r"Refusing to load .*evil\.pth"):
        load_checkpoint(path)


def test_format_detected_by_content_not_name(tmp_path: Path) -> None:
    tensors = {"a.weight": torch.arange(3.0), "b": torch.ones(2, 2)}
    st = tmp_path / "weights.pth"  # safetensors bytes under a .pth name
    save_file(tensors, str(st))
    pt = tmp_path / "weights.safetensors"  # torch.save bytes under a .safetensors name
    torch.save({"model": tensors, "epoch": 3}, pt)
    assert is_safetensors_file(st) and not is_safetensors_file(pt)
    assert set(load_checkpoint(st)) == {"a.weight", "b"}
    loaded = load_checkpoint(pt)
    assert set(loaded) == {"model.a.weight", "model.b"}  # nested dicts flattened, non-tensors dropped
    torch.testing.assert_close(loaded["model.a.weight"], tensors["a.weight"])


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pth")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="bad.bin"):
        load_checkpoint(bad)


def test_select_prefix() -> None:
    marker = "patch_embed.proj.weight"
    tensors = {f"{p}backbone.{marker}": torch.zeros(1) for p in ("student.", "teacher.")}
    tensors["teacher.dino_head.mlp.0.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="student.backbone.*teacher.backbone"):
        select_prefix(tensors, marker, None, "ckpt.pth")
    assert set(select_prefix(tensors, marker, "teacher.backbone.", "ckpt.pth")) == {marker}
    with pytest.raises(CheckpointError, match="'model.'"):
        select_prefix(tensors, marker, "model.", "ckpt.pth")

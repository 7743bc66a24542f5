"""Strict loading of released-naming DINO head files (safetensors and torch.save) and the key renamers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from raddino_monai.models.dino_head import DINOHead
from raddino_monai.models.weights.head_file import (
    dino_head_state_dict_from_released,
    dino_head_state_dict_to_released,
    load_dino_head,
)
from raddino_monai.models.weights.safe_load import CheckpointError

DIMS = {"in_dim": 24, "out_dim": 40, "hidden_dim": 32, "bottleneck_dim": 8}
RELEASED_KEYS = {
    "mlp.0.weight",
    "mlp.0.bias",
    "mlp.2.weight",
    "mlp.2.bias",
    "mlp.4.weight",
    "mlp.4.bias",
    "last_layer.weight_g",
    "last_layer.weight_v",
}


def _trained_head(**kwargs: object) -> DINOHead:
    head = DINOHead(**{**DIMS, **kwargs})  # type: ignore[arg-type]
    with torch.no_grad():  # move g away from its init so loading is actually tested
        head.last_layer.parametrizations.weight.original0.uniform_(0.5, 2.0)
    return head


def test_released_names() -> None:
    assert set(dino_head_state_dict_to_released(DINOHead(in_dim=64, out_dim=50).state_dict())) == RELEASED_KEYS


def test_released_safetensors_round_trip(tmp_path: Path) -> None:
    head = _trained_head().eval()
    released = dino_head_state_dict_to_released(head.state_dict())
    assert set(released) == RELEASED_KEYS
    path = tmp_path / "dino_head.safetensors"
    save_file({k: v.contiguous() for k, v in released.items()}, str(path))
    loaded = load_dino_head(path, in_dim=DIMS["in_dim"], out_dim=DIMS["out_dim"]).eval()
    assert (loaded.in_dim, loaded.out_dim, loaded.hidden_dim, loaded.bottleneck_dim) == tuple(DIMS.values())
    x = torch.randn(3, DIMS["in_dim"])
    torch.testing.assert_close(loaded(x), head(x))
    assert dino_head_state_dict_from_released(released).keys() == head.state_dict().keys()
    fresh = DINOHead(**DIMS)  # the released names also load directly (PyTorch's weight-norm compat hook)
    fresh.load_state_dict(released, strict=True)
    torch.testing.assert_close(fresh.eval()(x), head(x))


@pytest.mark.parametrize("kwargs", [{"nlayers": 1}, {"nlayers": 2, "use_bn": True}, {"nlayers": 4, "mlp_bias": False}])
def test_variants_are_inferred_from_a_prefixed_torch_file(tmp_path: Path, kwargs: dict) -> None:
    head = _trained_head(**kwargs).eval()
    path = tmp_path / "head.pt"
    torch.save({f"dino_head.{k}": v for k, v in head.state_dict().items()}, path)  # parametrization naming
    loaded = load_dino_head(path).eval()
    assert (loaded.nlayers, loaded.use_bn, loaded.mlp_bias) == (
        kwargs["nlayers"],
        kwargs.get("use_bn", False),
        kwargs.get("mlp_bias", True),
    )
    x = torch.randn(4, DIMS["in_dim"])
    torch.testing.assert_close(loaded(x), head(x))


def test_training_checkpoint_needs_a_prefix(tmp_path: Path) -> None:
    student, teacher = _trained_head(), _trained_head()
    path = tmp_path / "train.pt"
    sd = {f"student.dino_head.{k}": v for k, v in student.state_dict().items()}
    sd.update({f"teacher.dino_head.{k}": v for k, v in teacher.state_dict().items()})
    torch.save({"model": sd, "iteration": 3}, path)
    with pytest.raises(CheckpointError, match="prefix"):
        load_dino_head(path)
    loaded = load_dino_head(path, prefix="model.teacher.dino_head.")
    x = torch.randn(2, DIMS["in_dim"])
    torch.testing.assert_close(loaded(x), teacher(x))


def test_errors_name_the_keys(tmp_path: Path) -> None:
    released = dino_head_state_dict_to_released(_trained_head().state_dict())
    path = tmp_path / "extra.safetensors"
    save_file({**released, "mlp.4.extra": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError, match="unexpected: \\['mlp.4.extra'\\]"):
        load_dino_head(path)
    path = tmp_path / "missing.safetensors"
    save_file({k: v for k, v in released.items() if k != "mlp.2.bias"}, str(path))
    with pytest.raises(CheckpointError, match="Missing: \\['mlp.2.bias'\\]"):
        load_dino_head(path)
    path = tmp_path / "ok.safetensors"
    save_file(released, str(path))
    with pytest.raises(CheckpointError, match="in_dim: expected 768, found 24"):
        load_dino_head(path, in_dim=768)
    with pytest.raises(ValueError, match="unknown arguments"):
        load_dino_head(path, bogus=1)


@pytest.mark.parametrize("naming", ["released", "parametrized"])
def test_raddino_sized_head_file_in_both_namings(naming: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[CARD] ``dino_head.safetensors`` (768 -> 2048 -> 2048 -> 256 -> 65536), in ``weight_g/weight_v`` and in
    ``parametrizations.weight.original0/1`` naming, loads strictly into the matching DINOHead. The file's tensors are
    stand-ins of the released shapes: real 92.6 MB files are not written in a unit test."""
    import raddino_monai.models.weights.head_file as dino_head_module

    card = {"in_dim": 768, "out_dim": 65536, "hidden_dim": 2048, "bottleneck_dim": 256, "nlayers": 3}
    with torch.device("meta"):
        reference = DINOHead(**{k: v for k, v in card.items() if k != "nlayers"})
    state = reference.state_dict()
    state = dino_head_state_dict_to_released(state) if naming == "released" else dict(state)
    expected_shapes = {"mlp.0.weight": (2048, 768), "mlp.2.weight": (2048, 2048), "mlp.4.weight": (256, 2048),
                       "last_layer.weight_g": (65536, 1), "last_layer.weight_v": (65536, 256)}
    released_shapes = {k: tuple(v.shape) for k, v in dino_head_state_dict_to_released(state).items()}
    assert set(released_shapes) == RELEASED_KEYS and expected_shapes.items() <= released_shapes.items()
    monkeypatch.setattr(dino_head_module, "load_checkpoint", lambda path: dict(state))  # no 92 MB file on disk
    with torch.device("meta"):  # the strict load runs on shapes only
        head = load_dino_head(tmp_path / "dino_head.safetensors", **card)
    assert (head.in_dim, head.out_dim, head.hidden_dim, head.bottleneck_dim, head.nlayers) == tuple(card.values())
    with pytest.raises(CheckpointError, match="Missing: \\['mlp.4.bias'\\]"):
        monkeypatch.setattr(dino_head_module, "load_checkpoint",
                            lambda path: {k: v for k, v in state.items() if k != "mlp.4.bias"})
        with torch.device("meta"):
            load_dino_head(tmp_path / "dino_head.safetensors")

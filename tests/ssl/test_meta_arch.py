"""StudentTeacher: structure (ModuleDicts, shared/separate iBOT head, losses only with weight > 0), teacher is a
no-grad eval-mode EMA copy, loss terms, initialisation from weights, parameter groups."""

from __future__ import annotations

import pytest
import torch

from raddino_monai.models import create_backbone, export_hf_folder
from raddino_monai.models.dino_head import DINOHead
from raddino_monai.models.weights.head_file import dino_head_state_dict_to_released
from raddino_monai.ssl import SSLConfig, StudentTeacher

HEADS = {"n_prototypes": 32, "hidden_dim": 16, "bottleneck_dim": 8}


def _cfg(**loss) -> SSLConfig:
    return SSLConfig.tiny(heads=HEADS, loss=loss, backbone={"drop_path_rate": 0.0})


def _batch(b: int = 4, size: int = 32, local: int = 16, n_local: int = 2):
    g = torch.rand(2 * b, 3, size, size)
    n = (size // 16) ** 2
    masks = torch.zeros(2 * b, n, dtype=torch.bool)
    masks[0, :2] = True
    masks[3, 1:] = True
    n_masked = masks.sum(-1, keepdim=True).clamp(min=1)
    weights = (1.0 / n_masked).expand_as(masks)[masks]
    return g, torch.rand(n_local * b, 3, local, local), masks, weights


def test_structure_and_teacher_copy() -> None:
    model = StudentTeacher.from_config(_cfg())
    assert set(model.student) == set(model.teacher) == {"backbone", "dino_head"}  # shared iBOT head
    assert all(not p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert model.student.training and not model.teacher.training
    for (name, s), (_, t) in zip(model.student.state_dict().items(), model.teacher.state_dict().items()):
        assert torch.equal(s, t), name
    separate = StudentTeacher.from_config(_cfg().replace(heads={"ibot_separate_head": True}))
    assert set(separate.student) == {"backbone", "dino_head", "ibot_head"}


def test_losses_built_only_with_positive_weight() -> None:
    model = StudentTeacher.from_config(_cfg(ibot_loss_weight=0.0, koleo_loss_weight=0.0))
    assert model.ibot_loss is None and model.koleo_loss is None and model.dino_loss is not None
    out = model(*_batch(), teacher_temp=0.04)
    assert set(out) == {"loss", "dino", "teacher_entropy"}


def test_forward_terms_and_gradients() -> None:
    model = StudentTeacher.from_config(_cfg())
    out = model(*_batch(), teacher_temp=0.04)
    assert {"loss", "dino", "ibot", "koleo", "koleo_raw", "teacher_entropy"} <= set(out)
    assert torch.allclose(out["loss"], out["dino"] + out["ibot"] + out["koleo"])
    assert 0 < float(out["teacher_entropy"]) <= torch.log(torch.tensor(32.0)) + 1e-4
    out["loss"].backward()
    grads = [p.grad for p in model.student.parameters()]
    assert all(g is not None for g in grads)
    assert model.student["backbone"].model.embeddings.mask_token.grad.abs().sum() > 0  # iBOT reaches the mask token
    assert all(p.grad is None for p in model.teacher.parameters())


def test_ema_update() -> None:
    model = StudentTeacher.from_config(_cfg())
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.teacher.parameters()]
    model.update_teacher(0.75)
    for t0, t, s in zip(before, model.teacher.parameters(), model.student.parameters()):
        assert torch.allclose(t, 0.75 * t0 + 0.25 * s)
    with pytest.raises(ValueError, match="momentum"):
        model.update_teacher(1.5)


def test_init_from_backbone_and_head_weights(tmp_path) -> None:
    source = create_backbone("tiny_vit_p16")
    export_hf_folder(source, tmp_path / "hf")
    head = DINOHead(in_dim=192, out_dim=32, hidden_dim=16, bottleneck_dim=8)
    from safetensors.torch import save_file

    save_file(dino_head_state_dict_to_released(head.state_dict()), str(tmp_path / "dino_head.safetensors"))
    cfg = _cfg().replace(
        backbone={"weights": str(tmp_path / "hf")}, heads={"weights": str(tmp_path / "dino_head.safetensors")}
    )
    model = StudentTeacher.from_config(cfg)
    x = torch.rand(2, 3, 32, 32)
    source.eval()
    with torch.no_grad():
        assert torch.allclose(model.teacher["backbone"](x), source(x), atol=1e-6)
        z = torch.randn(3, 192)
        assert torch.allclose(model.teacher["dino_head"](z), head(z), atol=1e-6)


def test_param_groups_follow_dinov2() -> None:
    model = StudentTeacher.from_config(_cfg())
    groups = model.param_groups()
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(model.student.parameters()))
    by_name = {n: g for g in groups for n in g["param_names"]}
    layers = model.student["backbone"].num_layers
    patch = by_name["backbone.model.embeddings.patch_embeddings.projection.weight"]
    assert patch["lr_multiplier"] == pytest.approx(0.9 ** (layers + 1) * 0.2)
    assert by_name["dino_head.mlp.0.bias"]["wd_multiplier"] == 0.0
    assert by_name["dino_head.mlp.0.weight"]["wd_multiplier"] == 1.0
    assert all(g["is_last_layer"] == any(".last_layer." in n for n in g["param_names"]) for g in groups)


def test_head_width_mismatch() -> None:
    with pytest.raises(ValueError, match="backbone width"):
        StudentTeacher(create_backbone("tiny_vit_p16"), _cfg(), dino_head=DINOHead(in_dim=7, out_dim=32))

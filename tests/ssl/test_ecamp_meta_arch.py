"""ECAMPMetaArch: the loss composition (equal weights, each term), region weighting, AdamW groups, the exported
encoder, and a tiny overfit run in which every term falls."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from reference.tiny_ecamp import tiny_ecamp_batch, tiny_ecamp_model

from raddino_monai.losses.masked_pixel import MaskedPixelLoss
from raddino_monai.models.ecamp import box_region_map
from raddino_monai.ssl import ECAMPLossConfig, ECAMPMetaArch, ECAMPPretrainConfig, ecamp_param_groups


def _meta(loss: ECAMPLossConfig | None = None, **config) -> ECAMPMetaArch:
    return ECAMPMetaArch(tiny_ecamp_model(**config), loss)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Training steps of tiny models run faster on one thread on the shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_losses_and_their_sum() -> None:
    meta = _meta().eval()
    batch = tiny_ecamp_batch()
    with torch.no_grad():
        out = meta(batch)
        net = meta.model(batch)
    assert {"loss", "loss_mim", "loss_sr", "loss_mlm", "mask", "cross_attention"} <= set(out)
    torch.testing.assert_close(out["loss"], out["loss_mim"] + out["loss_sr"] + out["loss_mlm"])  # [ECAMP] equal
    # each term against its own formula on the network's outputs (ECAMP's reductions: over all patches / pixels /
    # tokens)
    m = net["mask"][..., None]
    mim = ((net["pred"] - net["target"]) ** 2 * m).mean()
    sr = ((net["sr"] - net["sr_target"]) ** 2).mean()
    ce = torch.nn.functional.cross_entropy(net["logits"].transpose(1, 2), batch["labels"], reduction="none")
    mlm = (ce * batch["mlm_weights"]).mean()
    torch.testing.assert_close(out["loss_mim"], mim)
    torch.testing.assert_close(out["loss_sr"], sr)
    torch.testing.assert_close(out["loss_mlm"], mlm)
    weighted = ECAMPMetaArch(meta.model, ECAMPLossConfig(mim_weight=2.0, sr_weight=0.0, mlm_weight=0.5)).eval()
    with torch.no_grad():
        w = weighted(batch)
    torch.testing.assert_close(w["loss"], 2 * out["loss_mim"] + 0.5 * out["loss_mlm"])


def test_region_weighting_and_reductions() -> None:
    meta = _meta().eval()
    batch = tiny_ecamp_batch()
    with torch.no_grad():
        plain = meta(batch)
        ones = meta({**batch, "sr_region": torch.ones(4, 1, 128, 128)})
        box = box_region_map(torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 2]), grid=4, box=2, size=128)
        boxed = meta({**batch, "sr_region": box})
    torch.testing.assert_close(ones["loss_sr"], plain["loss_sr"])  # an all-ones map is the plain MSE
    assert float(boxed["loss_sr"]) < float(plain["loss_sr"])  # a quarter of the area counts, averaged over all
    mae = ECAMPMetaArch(meta.model, ECAMPLossConfig(mim_normalize_by="masked_patches")).eval()
    with torch.no_grad():
        masked = mae(batch)
    torch.testing.assert_close(masked["loss_mim"], plain["loss_mim"] / 0.75)  # 12 of 16 patches masked
    assert isinstance(mae.mim_loss, MaskedPixelLoss) and mae.mim_loss.normalize_by == "masked_patches"
    with pytest.raises(KeyError, match="mlm_weights"):
        meta({k: v for k, v in batch.items() if k != "mlm_weights"})


def test_param_groups_follow_timm_add_weight_decay() -> None:
    meta = _meta()
    groups = ecamp_param_groups(meta)
    decay, no_decay = (set(map(id, g["params"])) for g in groups)
    assert [g["wd_multiplier"] for g in groups] == [1.0, 0.0]
    for name, p in meta.named_parameters():
        if not p.requires_grad:  # the fixed sin-cos table, LayerScale, the unused iBOT mask token
            assert id(p) not in decay | no_decay, name
        elif p.ndim <= 1 or name.endswith(".bias"):
            assert id(p) in no_decay, name
        else:
            assert id(p) in decay, name
    assert meta.exported_backbone() is meta.model.backbone
    assert set(meta.student_submodules()) == {"backbone", "decoder", "super_res", "report_decoder"}


def test_from_config_builds_the_tiny_recipe() -> None:
    cfg = ECAMPPretrainConfig.tiny()
    meta = ECAMPMetaArch.from_config(cfg, vocab_size=50)
    assert meta.model.config == cfg.model and meta.loss_config == cfg.loss
    assert meta.model.report_decoder.image_proj.in_features == meta.model.backbone.embed_dim == 192
    assert meta.model.target_size == cfg.augment.size == 128


def test_loss_falls_on_a_tiny_overfit_set(one_thread: None) -> None:
    torch.manual_seed(0)
    meta = _meta()
    batch = tiny_ecamp_batch()
    optimizer = torch.optim.AdamW(meta.param_groups(), lr=3e-3)
    history = []
    for _ in range(40):
        out = meta(batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        history.append([out[k].item() for k in ("loss_mim", "loss_sr", "loss_mlm")])
    h = np.array(history)
    first, last = h[:5].mean(0), h[-5:].mean(0)
    assert np.all(last < first * np.array([0.85, 0.9, 0.7])), (first, last)  # MIM, SR, MLM each fall

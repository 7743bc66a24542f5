"""ECAMPModel: branch outputs, frozen parts, gradients into the encoder, export (the losses: tests/ssl)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from reference.tiny_ecamp import CONFIG as TINY_CONFIG
from reference.tiny_ecamp import TEXT as TINY_TEXT
from reference.tiny_ecamp import tiny_ecamp_batch, tiny_ecamp_model
from reference.tiny_text import tiny_tokenizer

from raddino_monai.models import create_backbone, export_hf_folder
from raddino_monai.models.ecamp import ECAMPConfig, ECAMPModel, build_ecamp_model, init_sincos_position_embedding
from raddino_monai.models.ecamp.report_decoder import build_report_decoder
from raddino_monai.models.sincos import sincos_2d_position_embedding

CONFIG, TEXT = TINY_CONFIG, TINY_TEXT
_model, _batch = tiny_ecamp_model, tiny_ecamp_batch


def test_branch_outputs() -> None:
    model = _model().eval()
    batch = _batch()
    with torch.no_grad():
        out = model(batch)
    assert out["pred"].shape == out["target"].shape == (4, 16, 16 * 16 * 3)  # 64 px / 16 = 4 x 4 patches
    assert out["mask"].sum(1).tolist() == [12.0] * 4  # 75 % of 16 patches
    assert out["sr"].shape == out["sr_target"].shape == (4, 3, 128, 128)
    assert out["sr_target"] is batch["image"]
    assert out["logits"].shape == (4, 32, len(tiny_tokenizer()))
    assert out["cross_attention"].shape == (4, 2, 32, 4)  # text tokens attend to the 4 visible patches
    small = F.interpolate(batch["image"], size=(64, 64), mode="bicubic", align_corners=False)
    torch.testing.assert_close(out["target"][:, 0], small[:, :, :16, :16].permute(0, 2, 3, 1).reshape(4, -1))
    with torch.no_grad():
        again = model(batch)
    assert torch.equal(again["mask"], out["mask"]) and torch.equal(again["sr"], out["sr"])  # same noise, same mask


def test_frozen_parts_and_gradients_reach_the_encoder() -> None:
    model = _model()
    emb = model.backbone.model.embeddings
    side = 112 // 16  # tiny_vit_p16 stores its table for 112 px; sin-cos, fixed [ECAMP]
    torch.testing.assert_close(emb.position_embeddings[0], sincos_2d_position_embedding(192, side, side))
    out = model(_batch())
    out["logits"].square().mean().backward()  # the text branch alone trains the image encoder (fusion layer)
    block = model.backbone.model.encoder.layer[0]
    assert block.attention.q_proj.weight.grad.abs().sum() > 0
    assert emb.position_embeddings.grad is None and block.layer_scale1.lambda1.grad is None
    assert emb.mask_token.grad is None
    model.zero_grad()
    model(_batch())["sr"].square().mean().backward()  # SR trains the decoder and, through it, the encoder
    assert model.decoder.decoder_pred.weight.grad.abs().sum() > 0 and block.mlp.fc1.weight.grad.abs().sum() > 0
    trainable = _model(train_pos_embed=True, train_layerscale=True).backbone.model
    assert trainable.embeddings.position_embeddings.requires_grad
    assert trainable.encoder.layer[0].layer_scale2.lambda1.requires_grad


def test_norm_pix_option_maps_the_prediction_back_to_pixels() -> None:
    model = _model(norm_pix_loss=True, sr_final_relu=False).eval()
    batch = _batch()
    with torch.no_grad():
        out = model(batch)
        target = out["target"]
        mean, std = target.mean(-1, keepdim=True), (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        grid = (4, 4)
        from raddino_monai.models.ecamp import unpatchify

        sr = model.super_res(unpatchify(out["pred"] * std + mean, 16, grid, 3))
    torch.testing.assert_close(out["sr"], sr)


def test_checkpoint_weights_are_kept_and_exported_encoder_loads_in_eval_tools(tmp_path) -> None:
    from raddino_monai.evaluation.runners import load_encoder_backbone

    source = create_backbone("tiny_vit_p16")
    export_hf_folder(source, tmp_path / "init")
    model = build_ecamp_model("tiny_vit_p16", vocab_size=41, backbone_weights=tmp_path / "init",
                              config={**CONFIG}, text_overrides=TEXT)
    torch.testing.assert_close(model.backbone.model.embeddings.position_embeddings,
                               source.model.embeddings.position_embeddings)  # loaded, not overwritten by sin-cos
    export_hf_folder(model.backbone, tmp_path / "encoder")
    encoder = load_encoder_backbone(f"tiny_vit_p16:{tmp_path / 'encoder'}").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), model.backbone.eval()(x))


def test_init_sincos_and_errors() -> None:
    backbone = create_backbone("mae_vitb16", num_hidden_layers=1)
    init_sincos_position_embedding(backbone)
    table = sincos_2d_position_embedding(768, 14, 14)
    torch.testing.assert_close(backbone.model.embeddings.position_embeddings[0], table)
    model = _model()
    with pytest.raises(KeyError, match="attention_mask"):
        model({k: v for k, v in _batch().items() if k != "attention_mask"})
    with pytest.raises(ValueError, match=r"\(B, 3, 128, 128\)"):
        model({**_batch(), "image": torch.zeros(4, 3, 64, 64)})
    small = create_backbone("tiny_vit_p16", num_hidden_layers=1)
    with pytest.raises(ValueError, match="192 wide"):
        ECAMPModel(small, build_report_decoder(96, vocab_size=10, **TEXT))
    with pytest.raises(ValueError, match="multiple of the patch size"):
        ECAMPModel(small, build_report_decoder(192, vocab_size=10, **TEXT), ECAMPConfig(input_size=40))
    with pytest.raises(ValueError, match="Unknown ECAMPConfig"):
        ECAMPConfig.from_dict({"mask_ration": 0.5})

"""ECAMPModel: loss composition, frozen parts, gradients into the encoder, export, and a tiny overfit run."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference.tiny_text import tiny_tokenizer

from raddino_monai.models import create_backbone, export_hf_folder
from raddino_monai.models.ecamp import ECAMPConfig, ECAMPModel, build_ecamp_model, init_sincos_position_embedding
from raddino_monai.models.report_decoder import build_report_decoder
from raddino_monai.models.sincos import sincos_2d_position_embedding
from raddino_monai.models.sr_head import box_region_map
from raddino_monai.transforms.entity_context import InsertEntityContext
from raddino_monai.transforms.entity_mlm import EntityAwareMLM, EntityMLMConfig

REPORTS = [
    "Small left pleural effusions. There is no evidence of pneumothorax.",
    "Heart size is normal. The lungs are clear.",
    "Mild cardiomegaly. Right lower lobe opacity, possible pneumonia.",
    "Hyperinflated lungs. There is no focal opacity.",
]
TEXT = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 32}
CONFIG = {"input_size": 64, "decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2}


def _model(**config) -> ECAMPModel:
    return build_ecamp_model("tiny_vit_p16", vocab_size=len(tiny_tokenizer()), config={**CONFIG, **config},
                             backbone_overrides={"num_hidden_layers": 2}, text_overrides=TEXT)


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mlm = EntityAwareMLM(tiny_tokenizer(), EntityMLMConfig(max_length=32), seed=seed)
    insert = InsertEntityContext(seed=seed)
    texts = [mlm(insert(r)) for r in REPORTS]
    batch = {k: torch.stack([t[k] for t in texts]) for k in texts[0]}
    batch["image"] = F.interpolate(torch.randn(4, 1, 8, 8, generator=g), size=(128, 128), mode="bicubic").repeat(
        1, 3, 1, 1)
    batch["mae_noise"] = torch.rand(4, 16, generator=g)
    return batch


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Training steps of tiny models run faster on one thread on the shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_losses_and_their_sum() -> None:
    model = _model().eval()
    out = model(_batch())
    assert {"loss", "loss_mim", "loss_sr", "loss_mlm", "mask", "cross_attention"} <= set(out)
    torch.testing.assert_close(out["loss"], out["loss_mim"] + out["loss_sr"] + out["loss_mlm"])  # [ECAMP] equal
    assert out["mask"].sum(1).tolist() == [12.0] * 4  # 75 % of 16 patches
    assert out["cross_attention"].shape == (4, 2, 32, 4)  # text tokens attend to the 4 visible patches
    weighted = _model(mim_weight=2.0, sr_weight=0.0, mlm_weight=0.5)
    weighted.load_state_dict(model.state_dict())
    w = weighted.eval()(_batch())
    torch.testing.assert_close(w["loss"], 2 * out["loss_mim"] + 0.5 * out["loss_mlm"])


def test_same_noise_same_mask_and_region_weighting() -> None:
    model = _model().eval()
    batch = _batch()
    with torch.no_grad():
        a, b = model(batch), model(batch)
    assert torch.equal(a["mask"], b["mask"]) and torch.equal(a["loss"], b["loss"])
    with torch.no_grad():
        ones = model({**batch, "sr_region": torch.ones(4, 1, 128, 128)})
    torch.testing.assert_close(ones["loss_sr"], a["loss_sr"])  # an all-ones map is the plain MSE
    box = box_region_map(torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 2]), grid=4, box=2, size=128)
    with torch.no_grad():
        boxed = model({**batch, "sr_region": box})
    assert float(boxed["loss_sr"]) < float(a["loss_sr"])  # half the area counts, averaged over all pixels


def test_frozen_parts_and_gradients_reach_the_encoder() -> None:
    model = _model()
    emb = model.backbone.model.embeddings
    side = 112 // 16  # tiny_vit_p16 stores its table for 112 px; sin-cos, fixed [ECAMP]
    torch.testing.assert_close(emb.position_embeddings[0], sincos_2d_position_embedding(192, side, side))
    out = model(_batch())
    out["loss_mlm"].backward()  # the report loss alone trains the image encoder (through the fusion layer)
    block = model.backbone.model.encoder.layer[0]
    assert block.attention.q_proj.weight.grad.abs().sum() > 0
    assert emb.position_embeddings.grad is None and block.layer_scale1.lambda1.grad is None
    assert emb.mask_token.grad is None
    model.zero_grad()
    model(_batch())["loss_sr"].backward()  # SR trains the decoder and, through it, the encoder
    assert model.decoder.decoder_pred.weight.grad.abs().sum() > 0 and block.mlp.fc1.weight.grad.abs().sum() > 0
    trainable = _model(train_pos_embed=True, train_layerscale=True).backbone.model
    assert trainable.embeddings.position_embeddings.requires_grad
    assert trainable.encoder.layer[0].layer_scale2.lambda1.requires_grad


def test_norm_pix_option_runs() -> None:
    out = _model(norm_pix_loss=True, mim_normalize_by="masked_patches", sr_final_relu=False)(_batch())
    assert all(torch.isfinite(out[k]) for k in ("loss_mim", "loss_sr", "loss_mlm"))


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
    with pytest.raises(KeyError, match="mlm_weights"):
        model({k: v for k, v in _batch().items() if k != "mlm_weights"})
    with pytest.raises(ValueError, match=r"\(B, 3, 128, 128\)"):
        model({**_batch(), "image": torch.zeros(4, 3, 64, 64)})
    small = create_backbone("tiny_vit_p16", num_hidden_layers=1)
    with pytest.raises(ValueError, match="192 wide"):
        ECAMPModel(small, build_report_decoder(96, vocab_size=10, **TEXT))
    with pytest.raises(ValueError, match="multiple of the patch size"):
        ECAMPModel(small, build_report_decoder(192, vocab_size=10, **TEXT), ECAMPConfig(input_size=40))
    with pytest.raises(ValueError, match="Unknown ECAMPConfig"):
        ECAMPConfig.from_dict({"mask_ration": 0.5})


def test_loss_falls_on_a_tiny_overfit_set(one_thread: None) -> None:
    torch.manual_seed(0)
    model = _model()
    batch = _batch()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    history = []
    for _ in range(40):
        out = model(batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        history.append([out[k].item() for k in ("loss_mim", "loss_sr", "loss_mlm")])
    h = np.array(history)
    first, last = h[:5].mean(0), h[-5:].mean(0)
    assert np.all(last < first * np.array([0.85, 0.9, 0.7])), (first, last)  # MIM, SR, MLM each fall

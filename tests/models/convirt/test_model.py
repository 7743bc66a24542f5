"""ConVIRTModel: shapes, projections, trainable-only optimizer groups, every trainable parameter gets a gradient."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raddino_monai.losses import ConVIRTLoss
from raddino_monai.models.convirt import (
    ConVIRTModel,
    ConVIRTModelConfig,
    ResNet50ImageEncoder,
    build_convirt_model,
    load_tokenizer,
    tokenize_texts,
)

SENTENCES = ["the heart is mildly enlarged .", "no pneumothorax .", "small left pleural effusion ."]


def _inputs(folder: Path) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    return torch.rand(3, 3, 64, 64), tokenize_texts(load_tokenizer(folder), SENTENCES)


def _model(folder: Path, **fields: object) -> ConVIRTModel:
    config = ConVIRTModelConfig(**{"text_encoder": str(folder), "image_encoder": "tiny_vit_p16", "projection_dim": 8,
                                   **fields})
    return build_convirt_model(config)


def test_defaults_are_the_recipe() -> None:
    cfg = ConVIRTModelConfig(text_encoder="/models/bert")
    assert (cfg.image_encoder, cfg.image_pooling, cfg.text_pooling) == ("raddino_vitb14", "cls", "max")
    assert (cfg.n_frozen_layers, cfg.freeze_embeddings, cfg.projection_dim) == (6, True, 512)
    assert ConVIRTModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="valid fields"):
        ConVIRTModelConfig.from_dict({"text_encoder": "x", "temperature": 0.1})


def test_forward_shapes_and_parts(tiny_bert_dir: Path) -> None:
    model = _model(tiny_bert_dir).eval()
    images, tokens = _inputs(tiny_bert_dir)
    with torch.no_grad():
        v, u = model(images, tokens["input_ids"], tokens["attention_mask"])
        assert v.shape == u.shape == (3, 8)
        h_v = model.encode_image(images)
        h_u = model.encode_text(tokens["input_ids"], tokens["attention_mask"])
        assert h_v.shape == (3, 192) and h_u.shape == (3, 16)
        torch.testing.assert_close(v, model.image_projection(h_v))
        torch.testing.assert_close(u, model.text_projection(h_u))
    assert (model.image_projection.fc1.out_features, model.text_projection.fc1.out_features) == (192, 16)


def test_param_groups_exclude_frozen_parameters(tiny_bert_dir: Path) -> None:
    model = _model(tiny_bert_dir)
    groups = model.param_groups(weight_decay=1e-6)
    assert [g["name"] for g in groups] == ["image_encoder", "text_encoder", "image_projection", "text_projection"]
    in_groups = {id(p) for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in in_groups) is p.requires_grad, name
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    # frozen: text embeddings, BERT layers 0..5, BERT pooler, and the backbone's (unused) iBOT mask token
    assert frozen and all(n.startswith("text_encoder.model.") for n in frozen[1:])
    assert frozen[0] == "image_encoder.backbone.model.embeddings.mask_token"
    assert all(p.requires_grad for p in model.image_projection.parameters())
    assert all(p.requires_grad for p in model.text_projection.parameters())


def test_training_step_updates_exactly_the_trainable_parameters(tiny_bert_dir: Path) -> None:
    model = _model(tiny_bert_dir)
    images, tokens = _inputs(tiny_bert_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.param_groups(), lr=1e-3)
    loss = ConVIRTLoss()(*model(images, tokens["input_ids"], tokens["attention_mask"]))
    loss.backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) is p.requires_grad, name  # no unused trainable parameter (DDP-safe)
    optimizer.step()
    for name, p in model.named_parameters():
        changed = not torch.equal(before[name], p.detach())
        assert changed is p.requires_grad, name


def test_resnet50_variant(tiny_bert_dir: Path) -> None:
    model = _model(tiny_bert_dir, image_encoder="resnet50")
    assert isinstance(model.image_encoder, ResNet50ImageEncoder)
    assert model.image_projection.fc1.in_features == 2048
    images, tokens = _inputs(tiny_bert_dir)
    with torch.no_grad():
        v, _ = model.eval()(images, tokens["input_ids"], tokens["attention_mask"])
    assert v.shape == (3, 8)


def test_bad_inputs(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="text_encoder must be the local folder"):
        build_convirt_model(ConVIRTModelConfig())
    model = _model(tiny_bert_dir)
    images, tokens = _inputs(tiny_bert_dir)
    with pytest.raises(ValueError, match="one sentence per image"):
        model(images[:2], tokens["input_ids"], tokens["attention_mask"])


def test_pipeline_from_datalist_items_to_a_loss(tiny_bert_dir: Path) -> None:
    """The pieces the engine will chain: LoadCXRd -> ConVIRT augmentations + one sentence -> tokens -> model -> loss."""
    from monai.transforms import Compose

    from raddino_monai.data.sample_data import load_sample_datalist
    from raddino_monai.transforms import ConVIRTAugmentConfig, LoadCXRd, RandSentenced, convirt_augmentations

    reports = ["The heart is mildly enlarged. No pneumothorax.", "Small left pleural effusion. The lungs are clear."]
    items = [{"image": it["image"], "report": r} for it, r in zip(load_sample_datalist("training")[:2], reports)]
    chain = Compose([LoadCXRd("image"), convirt_augmentations("image", ConVIRTAugmentConfig.tiny()),
                     RandSentenced("report", output_key="text")]).set_random_state(0)
    samples = [chain(dict(it)) for it in items]
    images = torch.stack([s["image"] for s in samples])
    tokens = tokenize_texts(load_tokenizer(tiny_bert_dir), [s["text"].lower() for s in samples])
    model = _model(tiny_bert_dir)
    assert images.shape == (2, 3, 64, 64)
    loss = ConVIRTLoss()(*model(images, tokens["input_ids"], tokens["attention_mask"]))
    loss.backward()
    assert torch.isfinite(loss) and model.image_projection.fc1.weight.grad is not None

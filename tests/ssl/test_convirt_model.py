"""ConVIRT recipe and training model: cited defaults and recipes, validation, the loss-dict contract, and through
PretrainTrainer: frozen text layers (embeddings + first layers) receive no gradient and never change, the other
parts train."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.data import Dataset
from torch.utils.data import DataLoader

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.data.sample_reports import with_metadata_reports
from raddino_monai.data.samplers import ResumableDistributedSampler, SeededDataset
from raddino_monai.engines import PretrainTrainer, exported_backbone
from raddino_monai.losses import ConVIRTLoss
from raddino_monai.models.convirt import ConVIRTModelConfig, load_tokenizer
from raddino_monai.ssl.convirt import CONVIRT_RECIPES, ConVIRTConfig, ConVIRTPretrainModel
from raddino_monai.ssl.convirt_data import ConVIRTCollate, convirt_transforms
from raddino_monai.ssl.schedules import OptimSchedules
from raddino_monai.text.build import random_bert

TINY_BERT = {"hidden_size": 16, "num_layers": 3, "num_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 64}


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [i["report"] for i in with_metadata_reports(load_sample_datalist("training"))]
    return random_bert(texts, tmp_path_factory.mktemp("bert") / "bert", model=TINY_BERT)


def tiny_config(bert: Path, **fields) -> ConVIRTConfig:
    return ConVIRTConfig.from_recipe("tiny", model={"text_encoder": str(bert)}, augment={"size": 32}, **fields)


def test_defaults_are_the_papers_and_recipes_resolve() -> None:
    cfg = ConVIRTConfig()
    assert (cfg.temperature, cfg.image_to_text_weight, cfg.batch_size_per_gpu, cfg.lr, cfg.weight_decay) == (
        0.1, 0.75, 32, 1e-4, 1e-6)
    assert cfg.model == ConVIRTModelConfig() and cfg.model.n_frozen_layers == 6 and cfg.augment.size == 224
    assert (cfg.precision, cfg.clip_grad, cfg.warmup_iters) == ("fp32", 0.0, 0)
    assert ConVIRTConfig.from_recipe("convirt") == cfg and set(CONVIRT_RECIPES) == {"convirt", "tiny"}
    tiny = ConVIRTConfig.from_recipe("tiny", model={"text_encoder": "/x"})
    assert tiny.model.text_encoder == "/x" and tiny.model.image_encoder == "tiny_vit_p16"  # nested update
    assert ConVIRTConfig(model={"text_encoder": "/y"}, augment={"size": 64}).augment.size == 64


@pytest.mark.parametrize("fields, match", [
    ({"lr_schedule": "step"}, "valid values"), ({"precision": "fp8"}, "valid values"),
    ({"batch_size_per_gpu": 0}, "batch_size_per_gpu"), ({"max_length": 1}, "max_length"),
    ({"model": {"nope": 1}}, "valid fields"),
])
def test_invalid_configs_name_the_field(fields, match) -> None:
    with pytest.raises(ValueError, match=match):
        ConVIRTConfig(**fields)
    with pytest.raises(ValueError, match="valid values"):
        ConVIRTConfig.from_recipe("clip")


def test_forward_is_the_loss_of_the_towers(bert_dir: Path) -> None:
    torch.manual_seed(0)
    model = ConVIRTPretrainModel.from_config(tiny_config(bert_dir)).eval()
    tok = load_tokenizer(bert_dir)
    batch = {"image": torch.rand(3, 3, 32, 32), **tok(["finding: covid-19.", "patient sex: male.", "pa view."],
                                                       padding=True, return_tensors="pt")}
    out = model(batch)
    v, u = model.model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    expected = ConVIRTLoss(0.1, 0.75).terms(v, u)
    assert set(out) == {*expected, "temperature"} and out["temperature"] == 0.1
    assert torch.allclose(out["loss"], expected["loss"])
    with pytest.raises(KeyError, match="ConVIRTCollate"):
        model({"image": batch["image"]})
    assert exported_backbone(model) is model.model.image_encoder.backbone
    with pytest.raises(ValueError, match="text_encoder"):
        ConVIRTPretrainModel.from_config(ConVIRTConfig.from_recipe("tiny"))


def test_frozen_text_layers_get_no_gradient_through_the_trainer(bert_dir: Path) -> None:
    cfg = tiny_config(bert_dir)
    torch.manual_seed(0)
    model = ConVIRTPretrainModel.from_config(cfg)
    items = with_metadata_reports(load_sample_datalist("training"))[:8]
    dataset = SeededDataset(Dataset(items, transform=convirt_transforms(cfg.augment)), seed=0)
    loader = DataLoader(dataset, batch_size=4, sampler=ResumableDistributedSampler(dataset, seed=0),
                        collate_fn=ConVIRTCollate(load_tokenizer(bert_dir), cfg.max_length), drop_last=True)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    grads: dict[str, bool] = {}
    from monai.engines.utils import IterationEvents

    trainer = PretrainTrainer("cpu", max_epochs=1, train_data_loader=loader, network=model,
                              optimizer=torch.optim.Adam(model.param_groups(), lr=1e-3),
                              schedules=OptimSchedules.constant(lr=1e-3, weight_decay=1e-6, total_iters=2))
    trainer.add_event_handler(IterationEvents.BACKWARD_COMPLETED, lambda e: grads.update(
        {n: p.grad is not None for n, p in e.model.named_parameters()}))
    trainer.run()
    assert trainer.state.iteration == 2
    text = "model.text_encoder.model."
    frozen = [n for n in grads if n.startswith((text + "embeddings.", text + "encoder.layer.0.", text + "pooler."))]
    assert frozen and not any(grads[n] for n in frozen)
    after = model.state_dict()
    assert all(torch.equal(after[n], before[n]) for n in frozen)
    trained = [n for n in grads if n.startswith((text + "encoder.layer.2.", "model.image_encoder.", "model.text_proj"))
               and "mask_token" not in n]
    assert trained and all(grads[n] for n in trained)
    assert any(not torch.equal(after[n], before[n]) for n in trained if n.startswith(text + "encoder.layer.2."))
    assert set(trainer.state.output["grad_norms"]) == {"image_encoder", "text_encoder", "image_projection",
                                                       "text_projection"}

"""ECAMP pretraining on the PretrainTrainer: items (skip and count), the entity_fn wiring (CheXpert labeler and the
precomputed key), a run that exports an encoder the evaluation path takes, exact resume, and the loss falling on a
tiny overfit set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Events

from raddino_monai.data.datalist import load_datalist
from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.data.synthetic_reports import with_synthetic_reports
from raddino_monai.evaluation.report.entity_sentence import CheXpertEntitySentence
from raddino_monai.evaluation.runners import load_encoder_backbone
from raddino_monai.experiments.ecamp_pretrain import (
    build_ecamp_trainer,
    ecamp_entity_fn,
    ecamp_pretrain_job,
    ecamp_tokenizer,
    load_ecamp_items,
)
from raddino_monai.inference.embeddings import extract_embeddings
from raddino_monai.inference.embedding_store import load_embeddings
from raddino_monai.ssl import ECAMPPretrainConfig
from raddino_monai.ssl.ecamp_data import ecamp_transforms
from raddino_monai.transforms import InsertEntityContextd, keyword_entity_sentence

TINY = {"recipe": "tiny", "schedule": {"epochs": 2, "cosine_epochs": 4}}


def _items(n: int = 8) -> list[dict]:
    return with_synthetic_reports(load_datalist(sample_datalist_path(), split="training"))[:n]


def _record(trainer) -> list[dict]:
    losses: list[dict] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(dict(e.state.output["losses"])))
    return losses


def test_items_are_checked_and_reportless_ones_skipped_and_counted() -> None:
    items = _items(4)
    kept, skipped = load_ecamp_items(items + [{"image": "x.png", "report": "  "}, {"image": "y.png"}])
    assert len(kept) == 4 and skipped == 2
    with pytest.raises(ValueError, match="No item of the given items has report text"):
        load_ecamp_items([{"image": "x.png"}])
    with pytest.raises(ValueError, match="need an 'image'"):
        load_ecamp_items([{"report": "No effusion."}])
    with pytest.raises(ValueError, match="'sr_region' is set on 1 of 2"):
        load_ecamp_items([{**items[0], "sr_region": "r.png"}, items[1]])
    with pytest.raises(ValueError, match="with_synthetic_reports"):  # the sample datalist itself has no reports
        load_ecamp_items(sample_datalist_path())


def test_entity_fn_wiring(tmp_path: Path) -> None:
    cfg = ECAMPPretrainConfig.tiny(entity_context_prob=1.0)
    assert isinstance(ecamp_entity_fn("chexpert_labeler"), CheXpertEntitySentence)
    assert ecamp_entity_fn("keywords") is keyword_entity_sentence
    with pytest.raises(ValueError, match="valid values"):
        ecamp_entity_fn("vicuna")
    item = _items(1)[0]
    report = "Mild cardiomegaly. No pneumothorax."
    tok = ecamp_tokenizer(cfg, [report, "cardiomegaly, no pneumothorax. effusion left unusual"], tmp_path / "tok")
    t = ecamp_transforms(cfg, tok, CheXpertEntitySentence())
    labeled = t.set_random_state(0)({"image": item["image"], "report": report})
    inserted = CheXpertEntitySentence()(report)
    assert inserted == "cardiomegaly, no pneumothorax."
    n_plain = len(tok.encode(report, add_special_tokens=False))
    n_with = len(tok.encode(report + " " + inserted, add_special_tokens=False))
    assert int(labeled["attention_mask"].sum()) == 1 + n_with  # [CLS] + report + the labeler's sentence
    pre = t.set_random_state(0)({"image": item["image"], "report": report, "entity_context": "effusion left."})
    words = tok.convert_ids_to_tokens(pre["labels"][: int(pre["attention_mask"].sum())].tolist())
    assert "effusion" in words and "unusual" not in words  # the precomputed key wins over the labeler
    assert int(pre["attention_mask"].sum()) == 1 + n_plain + len(tok.encode("effusion left.", add_special_tokens=False))
    trainer = build_ecamp_trainer(TINY, _items(4), tmp_path / "run")
    steps = trainer.data_loader.dataset.dataset.transform.transforms
    insert = next(s for s in steps if isinstance(s, InsertEntityContextd))
    assert isinstance(insert.insert.entity_fn, CheXpertEntitySentence) and insert.insert.prob == 0.8


def test_job_exports_an_encoder_the_evaluation_path_takes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    folder = ecamp_pretrain_job({**TINY, "schedule": {"epochs": 1}}, _items(8), out, device="cpu", log_interval=1)
    assert folder == out / "encoder_hf"
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "preprocessor_config.json"}
    assert (out / "tokenizer" / "tokenizer.json").is_file() and any((out / "tensorboard").iterdir())
    assert [p.name for p in (out / "checkpoints").glob("*.pt")] == ["checkpoint_00000002.pt"]
    # the exported folder is the trained encoder: same outputs as the checkpoint's backbone
    state = torch.load(out / "checkpoints" / "checkpoint_00000002.pt", weights_only=True)["model"]
    trained = load_encoder_backbone("tiny_vit_p16")
    trained.load_state_dict({k[len("model.backbone."):]: v for k, v in state.items()
                             if k.startswith("model.backbone.")})
    exported = load_encoder_backbone(f"tiny_vit_p16:{folder}").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), trained.eval()(x))
        assert not torch.allclose(exported(x), load_encoder_backbone("tiny_vit_p16").eval()(x))
    # and the embedding extraction takes it unchanged
    images = [it["image"] for it in _items(3)]
    emb = extract_embeddings(images, tmp_path / "emb.npz", weights=folder, arch="tiny_vit_p16", image_size=64,
                             progress=False, pooling=("cls",))
    cls = load_embeddings(emb)["cls"]
    assert cls.shape == (3, 192) and np.isfinite(cls).all()


def test_exact_resume(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    items = _items(8)
    first = build_ecamp_trainer({**TINY, "schedule": {"epochs": 1, "cosine_epochs": 4}}, items, tmp_path / "part",
                                device="cpu")
    first.run()  # 1 of 2 epochs, then stopped
    # the WordPiece trainer is not deterministic across calls (ties), so a run keeps its tokenizer folder: the
    # uninterrupted run gets the same one
    shutil.copytree(tmp_path / "part" / "tokenizer", tmp_path / "full" / "tokenizer")
    full = build_ecamp_trainer(TINY, items, tmp_path / "full", device="cpu")  # 2 epochs x 2 iterations
    losses_full = _record(full)
    full.run()
    second = build_ecamp_trainer(TINY, items, tmp_path / "part", device="cpu")
    losses_resumed = _record(second)
    second.run()
    assert len(losses_full) == 4 and len(losses_resumed) == 2
    assert losses_resumed == losses_full[2:]  # bit for bit on CPU
    for key, value in full.network.state_dict().items():
        assert torch.equal(second.network.state_dict()[key], value), key


def test_loss_falls_on_a_tiny_overfit_set(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = {"recipe": "tiny", "augment": {"crop_scale": (1.0, 1.0), "flip_prob": 0.0}, "entity_context_prob": 0.0,
           "optim": {"lr": 3e-3}, "schedule": {"epochs": 60, "warmup_epochs": 0, "cosine_epochs": 60}}
    trainer = build_ecamp_trainer(cfg, _items(4), tmp_path / "run", device="cpu", save_interval=0)
    losses = _record(trainer)
    trainer.run()
    h = np.array([[r[k] for k in ("loss_mim", "loss_sr", "loss_mlm")] for r in losses])
    first, last = h[:5].mean(0), h[-5:].mean(0)
    # the SR loss falls slowest (high-frequency 448 px targets from a 224 px input): about 0.875-0.92 of its start
    # after 60 epochs across thread counts and test orders, so its bound is 0.95; MIM and MLM fall by half
    assert np.all(last < first * np.array([0.9, 0.95, 0.8])), (first, last)

"""build_lm / build_bert: HF folders that Auto* classes load offline, no overwrite, resume rules, determinism."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from text_tiny import TINY_BERT, TINY_LM, TINY_TOKENIZER, TINY_TRAIN
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

from raddino_monai.text.build import build_bert, build_lm

TRAIN = dataclasses.replace(TINY_TRAIN, epochs=1)


def test_build_lm_round_trip(corpus: list[str], tmp_path: Path) -> None:
    out = build_lm(corpus, tmp_path / "lm", tokenizer=TINY_TOKENIZER, model=TINY_LM, train=TRAIN)
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert type(model).__name__ == "LlamaForCausalLM" and tok.pad_token == "<pad>"
    prompt = tok("No pleural", return_tensors="pt")
    generated = model.generate(**prompt, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert generated.shape[1] > prompt["input_ids"].shape[1]
    record = json.loads((out / "build.json").read_text())
    assert record["kind"] == "lm" and record["n_reports"] == len(corpus) and record["vocab_size"] == len(tok)
    assert record["model"]["hidden_size"] == 32 and record["steps"] > 0 and "val_perplexity" in record


def test_build_bert_round_trip(corpus: list[str], tmp_path: Path) -> None:
    out = build_bert(corpus, tmp_path / "bert", tokenizer={"vocab_size": 200}, model=TINY_BERT, train=TRAIN)
    encoder = AutoModel.from_pretrained(out, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    batch = tok(["No effusion.", "Mild cardiomegaly."], padding=True, return_tensors="pt")
    hidden = encoder(**batch).last_hidden_state
    assert type(encoder).__name__ == "BertModel" and hidden.shape[-1] == 32
    assert (out / "vocab.txt").is_file() and torch.isfinite(hidden).all()


def test_same_seed_same_weights(corpus: list[str], tmp_path: Path) -> None:
    a = build_lm(corpus, tmp_path / "a", tokenizer=TINY_TOKENIZER, model=TINY_LM, train=TRAIN)
    b = build_lm(corpus, tmp_path / "b", tokenizer=TINY_TOKENIZER, model=TINY_LM, train=TRAIN)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_never_overwrites_and_resume_rules(corpus: list[str], tmp_path: Path) -> None:
    out = tmp_path / "lm"
    build_lm(corpus, out, tokenizer=TINY_TOKENIZER, model=TINY_LM, train=TRAIN)
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="not empty"):
        build_lm(corpus, out, tokenizer=TINY_TOKENIZER, model=TINY_LM, train=TRAIN)
    with pytest.raises(FileExistsError, match="finished build"):
        build_lm(corpus, out, tokenizer=TINY_TOKENIZER, model=TINY_LM, train=TRAIN, resume=True)
    assert (out / "model.safetensors").read_bytes() == before
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "build_plan.json").write_text("{}")
    with pytest.raises(ValueError, match="does not match"):
        build_lm(corpus, unfinished, tokenizer=TINY_TOKENIZER, model=TINY_LM, train=TRAIN, resume=True)


def test_random_bert_is_reused_for_its_plan_and_refuses_others(tmp_path) -> None:
    from transformers import AutoModel, AutoTokenizer

    from raddino_monai.text.build import random_bert

    texts = ["Finding: COVID-19.", "Patient sex: male.", "Chest radiograph, PA view."] * 4
    small = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32}
    folder = random_bert(texts, tmp_path / "bert", model=small, seed=3)
    first = AutoModel.from_pretrained(str(folder)).embeddings.word_embeddings.weight.detach().clone()
    assert random_bert(texts, folder, model=small, seed=3) == folder  # same plan: reused, not rebuilt
    assert torch.equal(AutoModel.from_pretrained(str(folder)).embeddings.word_embeddings.weight, first)
    assert AutoTokenizer.from_pretrained(str(folder))("finding")["input_ids"][0] == 2  # [CLS]
    with pytest.raises(FileExistsError, match="does not hold a random BERT of this plan"):
        random_bert(texts, folder, model=small, seed=4)

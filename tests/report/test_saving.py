"""Saved report models: the round trip gives identical generations in every mode; the folder layout; errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from raddino_monai.report import (
    EncoderReference,
    ReportGenerationConfig,
    ReportTrainConfig,
    build_report_trainer,
    load_report_model,
    read_report_config,
    save_report_model,
)

from .helpers import REPORTS, build_model

MODES = {"projector": (None, {"projector.safetensors", "tokenizer", "report_config.json"}),
         "lora": ("adapter", {"projector.safetensors", "tokenizer", "report_config.json", "adapter"}),
         "full": ("lm", {"projector.safetensors", "tokenizer", "report_config.json", "lm"})}


def _train(model, tmp_path, mode: str) -> None:
    rng = np.random.default_rng(0)
    items = [{"id": str(i), "features": rng.standard_normal((4, 16)).astype(np.float32), "report": REPORTS[i]}
             for i in range(4)]
    config = ReportTrainConfig(mode=mode, epochs=2, global_batch_size=4, micro_batch_size=4, precision="fp32",
                               lr=1e-2, projector_lr=1e-2, warmup_ratio=0.0, lora_r=4, lora_alpha=8)
    build_report_trainer(model, items, tmp_path / "run", config, progress=False).run()


@pytest.mark.parametrize("mode", sorted(MODES))
def test_round_trip_gives_identical_generations(lm_folders, features, tmp_path, mode) -> None:
    model = build_model(lm_folders("llama"))
    model.encoder_ref = EncoderReference(arch="tiny_vit_p14", image_size=28)
    _train(model, tmp_path, mode)
    folder = save_report_model(model, tmp_path / "model")
    assert {p.name for p in folder.iterdir()} == MODES[mode][1]
    loaded = load_report_model(folder)
    config = ReportGenerationConfig(max_new_tokens=20)
    feats = features(3, 4, 16, seed=5)
    assert loaded.mode == mode and loaded.image_token_id == model.image_token_id
    assert torch.equal(loaded.generate_ids(feats, config), model.generate_ids(feats, config))
    saved = read_report_config(folder)
    assert saved["encoder"]["arch"] == "tiny_vit_p14" and saved["lm"]["source"] == model.lm_source
    assert saved["model"]["template"] == "plain" and saved["feature_dim"] == 16


def test_projector_mode_references_the_lm_and_can_point_elsewhere(lm_folders, features, tmp_path) -> None:
    model = build_model(lm_folders("gpt2"))
    folder = save_report_model(model, tmp_path / "model")
    moved = tmp_path / "moved_lm"
    import shutil

    shutil.copytree(lm_folders("gpt2"), moved)
    loaded = load_report_model(folder, lm=str(moved))
    assert loaded.lm_source == str(moved)
    config = ReportGenerationConfig(max_new_tokens=8)
    assert loaded.generate(features(2, 4, 16), config) == model.generate(features(2, 4, 16), config)


def test_with_encoder_reads_images(lm_folders, tmp_path) -> None:
    model = build_model(lm_folders("gpt2"), feature_dim=192)
    model.encoder_ref = EncoderReference(arch="tiny_vit_p14", init_seed=3, image_size=28)
    loaded = load_report_model(save_report_model(model, tmp_path / "model"), with_encoder=True)
    images = torch.rand(2, 3, 28, 28)
    tokens = loaded.encode_images(images)
    assert tokens.shape == (2, 4, 192)
    again = EncoderReference(arch="tiny_vit_p14", init_seed=3, image_size=28).build()
    torch.testing.assert_close(tokens, again.forward_features(images)["patch_tokens"])  # seeded: the same encoder
    assert not any(p.requires_grad for p in loaded.encoder.parameters())


def test_errors(lm_folders, tmp_path) -> None:
    model = build_model(lm_folders("gpt2"))
    folder = save_report_model(model, tmp_path / "model")
    with pytest.raises(FileExistsError, match="nothing is overwritten"):
        save_report_model(model, folder)
    with pytest.raises(ValueError, match="without an encoder reference"):
        load_report_model(folder, with_encoder=True)
    config = json.loads((folder / "report_config.json").read_text())
    (folder / "report_config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99, expected 1"):
        load_report_model(folder)
    with pytest.raises(FileNotFoundError, match="not a saved report model"):
        load_report_model(tmp_path)
    model.lm_source = None
    with pytest.raises(ValueError, match="lm_source is None"):
        save_report_model(model, tmp_path / "other")
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary folder left behind

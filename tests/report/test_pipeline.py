"""Datalist workflows: train on image-report pairs (features extracted once), generate per image, references."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.report import (
    EncoderReference,
    ReportGenerationConfig,
    ReportModelConfig,
    ReportTrainConfig,
    read_report_config,
    read_reports,
)
from raddino_monai.report.pipeline import (
    datalist_reports,
    generate_from_inputs,
    train_from_datalist,
    write_reference_reports,
)

from .helpers import REPORTS, build_model


def _datalist(tmp_path, n: int = 6):
    images = sorted((sample_data_dir() / "images").glob("*.png"))[:n]
    (tmp_path / "img").mkdir()
    for p in images:
        shutil.copy(p, tmp_path / "img" / p.name)
    items = [{"image": f"img/{p.name}", "report": REPORTS[i], "patient_id": str(i)} for i, p in enumerate(images)]
    items[-1]["report"] = None  # an image without a report is skipped in training
    path = tmp_path / "datalist.json"
    path.write_text(json.dumps({"training": items[:4], "test": items[4:]}))
    return path


ENCODER = EncoderReference(arch="tiny_vit_p14", image_size=28)
TRAIN = ReportTrainConfig(mode="projector", epochs=1, global_batch_size=2, micro_batch_size=2, precision="fp32")


@pytest.mark.parametrize("image_tokens", [True, False])
def test_train_then_generate(lm_folders, tmp_path, image_tokens) -> None:
    datalist = _datalist(tmp_path)
    model_config = ReportModelConfig(template="plain", model_max_length=96, image_tokens=image_tokens)
    train = TRAIN if image_tokens else dataclasses.replace(TRAIN, mode="lora", lora_r=4, lora_alpha=8)
    folder = train_from_datalist(datalist, str(lm_folders("gpt2")), tmp_path / "run", encoder=ENCODER,
                                 model_config=model_config, train_config=train, progress=False)
    saved = read_report_config(folder)
    assert saved["encoder"] == ENCODER.to_dict() and saved["feature_dim"] == (192 if image_tokens else 1)
    assert (tmp_path / "run" / "features.npz").is_file() == image_tokens
    out = generate_from_inputs(folder, datalist, tmp_path / "pred.csv", split="test",
                               config=ReportGenerationConfig(max_new_tokens=6), progress=False)
    rows = read_reports(out)
    assert [r["id"] for r in rows] == ["img/" + p for p in sorted(x.name for x in (tmp_path / "img").iterdir())[4:]]
    assert (tmp_path / "pred.features.npz").is_file() == image_tokens
    with pytest.raises(FileExistsError):
        generate_from_inputs(folder, datalist, out, split="test")


def test_references_and_missing_reports(tmp_path) -> None:
    datalist = _datalist(tmp_path)
    refs = read_reports(write_reference_reports(datalist, tmp_path / "refs.csv", split="test"))
    assert len(refs) == 1 and refs[0]["report"] == REPORTS[4]  # the item without a report is skipped
    assert len(datalist_reports(datalist, "training")) == 4
    with pytest.raises(KeyError, match="no item has a 'findings' text"):
        datalist_reports(datalist, "training", report_key="findings")


def test_feature_file_for_other_images_is_refused(lm_folders, tmp_path) -> None:
    from raddino_monai.report.pipeline import features_for

    datalist = _datalist(tmp_path)
    features_for(datalist, tmp_path / "f.npz", ENCODER, False, split="test", progress=False)
    with pytest.raises(ValueError, match="made for other images"):
        features_for(datalist, tmp_path / "f.npz", ENCODER, False, split="training", progress=False)


def test_stage2_starts_from_the_stage1_projector(lm_folders, tmp_path) -> None:
    from safetensors.torch import load_file

    from raddino_monai.report.saving import load_projector_into

    datalist, lm = _datalist(tmp_path), str(lm_folders("gpt2"))
    model_config = ReportModelConfig(template="plain", model_max_length=96)
    stage1 = train_from_datalist(datalist, lm, tmp_path / "s1", encoder=ENCODER, model_config=model_config,
                                 train_config=TRAIN, progress=False)
    # stage 2 with a frozen projector (lr 0): it must end exactly where stage 1 ended, not at a fresh seeded init
    frozen = dataclasses.replace(TRAIN, mode="lora", lora_r=4, lora_alpha=8, projector_lr=0.0)
    stage2 = train_from_datalist(datalist, lm, tmp_path / "s2", encoder=ENCODER, model_config=model_config,
                                 train_config=frozen, init_projector=stage1,
                                 features=tmp_path / "s1" / "features.npz", progress=False)
    one, two = (load_file(str(f / "projector.safetensors")) for f in (stage1, stage2))
    assert all(torch.equal(one[k], two[k]) for k in one)
    fresh = train_from_datalist(datalist, lm, tmp_path / "s3", encoder=ENCODER, model_config=model_config,
                                train_config=frozen, features=tmp_path / "s1" / "features.npz", progress=False)
    assert not all(torch.equal(one[k], v) for k, v in load_file(str(fresh / "projector.safetensors")).items())
    other = build_model(lm_folders("gpt2"), feature_dim=16)
    with pytest.raises(ValueError, match=r"\(type, feature width, LM width\) = \('mlp2x_gelu', 192, .*needs"):
        load_projector_into(other, stage1)

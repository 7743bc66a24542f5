"""ConVIRT batches: the sentence and the image view of a draw depend only on (seed, epoch, index) (so workers and
resumes cannot change them), items without a sentence are skipped and counted, the collate's layout and errors."""

from __future__ import annotations

import logging

import pytest
import torch
from monai.data import Dataset

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.data.sample_reports import metadata_report, with_metadata_reports
from raddino_monai.data.samplers import SeededDataset
from raddino_monai.ssl.convirt_data import ConVIRTCollate, convirt_transforms, report_items
from raddino_monai.transforms import ConVIRTAugmentConfig
from raddino_monai.transforms.text import split_sentences

AUG = ConVIRTAugmentConfig.tiny(size=32)


def _dataset(seed: int = 0) -> SeededDataset:
    items = with_metadata_reports(load_sample_datalist("training"))[:6]
    return SeededDataset(Dataset(items, transform=convirt_transforms(AUG)), seed=seed)


def test_draws_depend_only_on_seed_epoch_and_index() -> None:
    ds = _dataset()
    first = ds[(0, 3)]
    for key in [(1, 3), (0, 1), (2, 5)]:  # other draws in between move every generator
        ds[key]
    again = ds[(0, 3)]
    assert again["text"] == first["text"] and torch.equal(torch.as_tensor(again["image"]),
                                                          torch.as_tensor(first["image"]))
    assert first["text"] in split_sentences(first["report"], clean=True) and tuple(first["image"].shape) == (3, 32, 32)
    fresh = _dataset()[(0, 3)]  # another process / worker: same draw
    assert fresh["text"] == first["text"] and torch.equal(torch.as_tensor(fresh["image"]),
                                                          torch.as_tensor(first["image"]))
    sentences = {_dataset()[(epoch, 3)]["text"] for epoch in range(12)}
    assert len(sentences) > 1  # a new sentence per draw, not one per item
    draws_a = [_dataset(0)[(e, 2)]["text"] for e in range(8)]
    draws_b = [_dataset(1)[(e, 2)]["text"] for e in range(8)]
    assert draws_a != draws_b


def test_report_items_skip_and_count(caplog: pytest.LogCaptureFixture) -> None:
    items = [{"image": "a.png", "report": "No effusion."}, {"image": "b.png", "report": ""},
             {"image": "c.png"}, {"image": "d.png", "report": "..."}]
    with caplog.at_level(logging.WARNING):
        kept = report_items(items)
    assert [i["image"] for i in kept] == ["a.png"] and "skipped 3 of 4" in caplog.text and "b.png" in caplog.text
    with pytest.raises(ValueError, match="none of the 2 items"):
        report_items(items[1:3])


def test_metadata_report_is_labelled_text() -> None:
    item = {"view": "PA", "sex": "F", "finding": "COVID-19"}
    assert metadata_report(item) == "Chest radiograph, PA view. Patient sex: female. Finding: COVID-19."
    assert metadata_report({}) == "Chest radiograph, unknown view. Patient sex: unknown. Finding: unknown."
    assert with_metadata_reports([{"report": "Real text.", **item}])[0]["report"] == "Real text."


def test_collate_layout_and_errors() -> None:
    from transformers import BertTokenizerFast

    from raddino_monai.text.tokenizer import train_wordpiece_tokenizer

    tok: BertTokenizerFast = train_wordpiece_tokenizer(["finding covid", "patient sex male"] * 3, 64, 1, 16)
    collate = ConVIRTCollate(tok, max_length=8)
    batch = collate([{"image": torch.rand(3, 8, 8), "text": "finding covid"},
                     {"image": torch.rand(3, 8, 8), "text": "patient sex male " * 5}])
    assert batch["image"].shape == (2, 3, 8, 8) and batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["input_ids"].shape[1] == 8 and batch["text"][0] == "finding covid"  # truncated to max_length
    with pytest.raises(KeyError, match="'text'"):
        collate([{"image": torch.rand(3, 8, 8)}])

"""ecamp_transforms: a datalist item -> the batch keys (shapes, dtypes), seeded draws, the region map, collation."""

from __future__ import annotations

import torch
from monai.data import list_data_collate
from reference.tiny_text import tiny_tokenizer

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.ssl import ECAMPPretrainConfig
from raddino_monai.ssl.ecamp_data import ecamp_item_keys, ecamp_transforms


def _item(**extra) -> dict:
    item = next(i for i in load_sample_datalist("training") if i.get("mask"))
    return {"image": item["image"], "report": "Small left pleural effusion. There is no pneumothorax.", "age": None,
            **extra}


def test_item_to_batch_keys() -> None:
    cfg = ECAMPPretrainConfig.tiny(text={"max_length": 32})
    t = ecamp_transforms(cfg, tiny_tokenizer())
    out = t.set_random_state(0)(_item())
    assert sorted(out) == sorted(ecamp_item_keys()) and "age" not in out
    assert out["image"].shape == (3, 128, 128) and out["image"].dtype == torch.float32
    assert out["input_ids"].shape == out["mlm_weights"].shape == (32,) and out["input_ids"].dtype == torch.long
    assert out["mae_noise"].shape == (16,)  # (64 / 16) ** 2 patches
    again = t.set_random_state(0)(_item())
    assert all(torch.equal(out[k], again[k]) for k in out)
    other = t.set_random_state(1)(_item())
    assert not torch.equal(out["mae_noise"], other["mae_noise"])
    batch = list_data_collate([out, other])
    assert batch["image"].shape == (2, 3, 128, 128) and batch["labels"].shape == (2, 32)


def test_region_map_is_loaded_and_follows_the_crop() -> None:
    cfg = ECAMPPretrainConfig.tiny(text={"max_length": 32})
    item = _item()
    mask = next(i for i in load_sample_datalist("training") if i.get("mask"))["mask"]
    t = ecamp_transforms(cfg, tiny_tokenizer(), region_key="lung_mask")
    out = t.set_random_state(3)({**item, "lung_mask": mask})
    assert sorted(out) == sorted(ecamp_item_keys("lung_mask"))
    assert out["sr_region"].shape == (1, 128, 128) and 0 < float(out["sr_region"].mean()) < 1

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from raddino_monai.evaluation.segmentation import (
    SegmentationConfig,
    build_segmentation_model,
    evaluate_segmentation,
    predict_segmentation,
    train_segmentation,
)


def test_train_evaluate_predict_upernet(tiny_backbone: torch.nn.Module, sample_items: dict, tmp_path) -> None:
    cfg = SegmentationConfig(head="upernet", head_kwargs={"channels": 8, "neck_channels": 8}, image_size=28,
                             epochs=2, batch_size=3, class_names=["background", "lung"])
    model = build_segmentation_model(tiny_backbone, cfg)
    head_before = [p.clone() for p in model.head.parameters()]
    backbone_before = [p.clone() for p in tiny_backbone.parameters()]
    history = train_segmentation(model, sample_items["masked"], cfg)
    assert len(history) == 2 and all(np.isfinite(history))
    assert any(not torch.equal(a, b) for a, b in zip(head_before, model.head.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(backbone_before, tiny_backbone.parameters()))
    res = evaluate_segmentation(model, sample_items["masked_test"], cfg)
    assert len(res["per_image"]) == 3 and set(res["summary"]) == {"dice/lung", "dice"}
    assert 0.0 <= res["summary"]["dice/lung"][0] <= 1.0
    image = sample_items["masked"][0]["image"]
    out = predict_segmentation(model, [image], cfg, tmp_path, write_nifti=True)[0]
    with Image.open(image) as src, Image.open(out["mask"]) as mask, Image.open(out["overlay"]) as overlay:
        assert mask.size == src.size and overlay.size == src.size and overlay.mode == "RGB"
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}
    assert (tmp_path / out["nifti"]).is_file()


@pytest.mark.parametrize("mode", ["multiclass", "multilabel"])
def test_linear_head_modes(tiny_backbone: torch.nn.Module, sample_items: dict, mode: str) -> None:
    names = ["background", "lung"] if mode == "multiclass" else ["lung"]
    cfg = SegmentationConfig(head="linear", mask_mode=mode, class_names=names, image_size=28, epochs=1, batch_size=3,
                             augment=mode == "multilabel", horizontal_flip=False)
    model = build_segmentation_model(tiny_backbone, cfg)
    train_segmentation(model, sample_items["masked"][:3], cfg)
    res = evaluate_segmentation(model, sample_items["masked_test"][:2], cfg)
    assert list(res["summary"]) == ["dice/lung", "dice"]


def test_ecamp_head_with_ecamp_loss(tiny_backbone: torch.nn.Module, sample_items: dict) -> None:
    cfg = SegmentationConfig(head="ecamp", head_kwargs={"features": (8, 8, 8, 8)}, mask_mode="multilabel",
                             loss="ecamp_mixed", class_names=["lung"], image_size=28, epochs=2, batch_size=3,
                             augment=False)
    model = build_segmentation_model(tiny_backbone, cfg)
    history = train_segmentation(model, sample_items["masked"][:3], cfg)
    assert len(history) == 2 and all(np.isfinite(history))
    res = evaluate_segmentation(model, sample_items["masked_test"][:2], cfg)
    assert 0.0 <= res["summary"]["dice/lung"][0] <= 1.0


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="valid values"):
        SegmentationConfig(mask_mode="instance")
    with pytest.raises(ValueError, match=r"ecamp_mixed \(multilabel\)"):
        SegmentationConfig(loss="ecamp_mixed")  # ECAMP's sigmoid loss needs multilabel masks
    with pytest.raises(ValueError, match="valid losses"):
        SegmentationConfig(loss="focal")
    assert SegmentationConfig().lr == 5e-4 and SegmentationConfig().batch_size == 80


def test_predict_names_are_unique_and_traceable(tiny_backbone: torch.nn.Module, sample_items: dict, tmp_path) -> None:
    """Issue 12: DICOM UIDs and equal names in different folders used to collapse 4 inputs into 2 files."""
    import shutil

    from raddino_monai.data.synthetic import write_synthetic_dicom
    from raddino_monai.transforms import OutputNameError

    src = tmp_path / "in"
    inputs = []
    for folder in ("a", "b"):
        (src / folder).mkdir(parents=True)
        inputs.append(write_synthetic_dicom(src / folder / "1.2.826.0.1.3680043.8.498.1.dcm", size=(40, 32)))
        inputs.append(Path(shutil.copy(sample_items["masked"][0]["image"], src / folder / "chest.png")))
    cfg = SegmentationConfig(head="linear", image_size=28, epochs=1, batch_size=2)
    model = build_segmentation_model(tiny_backbone, cfg)
    out = predict_segmentation(model, [str(p) for p in inputs], cfg, tmp_path / "pred")
    masks = sorted(p.relative_to(tmp_path / "pred").as_posix() for p in (tmp_path / "pred").rglob("*_seg.png"))
    assert masks == ["a/1.2.826.0.1.3680043.8.498.1_seg.png", "a/chest_seg.png",
                     "b/1.2.826.0.1.3680043.8.498.1_seg.png", "b/chest_seg.png"]  # 4 inputs, 4 files
    assert [r["name"] for r in out] == ["a/1.2.826.0.1.3680043.8.498.1", "a/chest", "b/1.2.826.0.1.3680043.8.498.1",
                                        "b/chest"]
    write_synthetic_dicom(src / "a" / "chest.dcm", size=(40, 32))  # chest.png and chest.dcm: one name
    with pytest.raises(OutputNameError, match=r"chest\.dcm and .*chest\.png -> 'chest'"):
        predict_segmentation(model, [str(inputs[1]), str(src / "a" / "chest.dcm")], cfg, tmp_path / "x")
    assert not (tmp_path / "x").exists()  # refused before anything was written

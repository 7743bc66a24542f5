"""Mask transforms: LoadMask(d) in both modes (displayed orientation), the PNG / NIfTI writers and SaveMaskd."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from raddino_monai.transforms import LoadMask, LoadMaskd, SaveMaskd
from raddino_monai.transforms.masks import read_mask_file, write_mask_nifti, write_mask_png, write_overlay_png


def _png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def test_multiclass_0_255_becomes_0_1_and_rows_stay_rows(tmp_path: Path) -> None:
    arr = np.zeros((4, 6), dtype=np.uint8)
    arr[0, 5] = 255  # top-right pixel
    mask = LoadMask()(_png(tmp_path / "m.png", arr))
    assert mask.shape == (1, 4, 6) and mask.dtype == torch.float32 and mask[0, 0, 5] == 1 and mask.sum() == 1
    values = LoadMask(values=[0, 7, 9])(_png(tmp_path / "v.png", np.array([[0, 7], [9, 9]])))
    assert values[0].tolist() == [[0, 1], [2, 2]]
    with pytest.raises(ValueError, match=r"pixel values \[3\] are not in the class values"):
        LoadMask(values=[0, 7])(_png(tmp_path / "bad.png", np.array([[0, 3]])))


def test_multilabel_stacks_structures(tmp_path: Path) -> None:
    left = _png(tmp_path / "l.png", np.array([[255, 0], [0, 0]]))
    right = _png(tmp_path / "r.png", np.array([[255, 255], [0, 0]]))
    out = LoadMaskd("mask", mode="multilabel")({"mask": [left, right]})["mask"]
    assert out.shape == (2, 2, 2) and out[:, 0, 0].tolist() == [1, 1] and out[0, 0, 1] == 0
    small = _png(tmp_path / "s.png", np.zeros((1, 1)))
    with pytest.raises(ValueError, match="different sizes"):
        LoadMask("multilabel")([left, small])
    with pytest.raises(ValueError, match="Unknown mask mode 'soft'"):
        LoadMask("soft")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported mask format '.bmp'"):
        read_mask_file(tmp_path / "m.bmp")
    with pytest.raises(ValueError, match="m.png: mask file does not exist"):
        read_mask_file(tmp_path / "m.png")


def test_writers_round_trip(tmp_path: Path) -> None:
    arr = np.array([[0, 1, 1], [0, 0, 1]])
    assert read_mask_file(write_mask_png(arr, tmp_path / "a.png")).tolist() == (arr * 255).tolist()
    assert read_mask_file(write_mask_nifti(arr, tmp_path / "a.nii.gz")).tolist() == arr.tolist()
    overlay = write_overlay_png(np.full((2, 3), 0.5), arr[None], tmp_path / "o.png")
    rgb = np.asarray(Image.open(overlay))
    assert rgb.shape == (2, 3, 3) and tuple(rgb[0, 0]) == (128, 128, 128) and tuple(rgb[0, 1]) != (128, 128, 128)


def test_save_maskd_names_files_after_the_source(tmp_path: Path) -> None:
    pred = MetaTensor(torch.tensor([[[0, 1], [1, 0]]]), meta={"filename_or_obj": "/x/chest.nii.gz"})
    SaveMaskd("pred", output_dir=tmp_path)({"pred": pred})
    assert read_mask_file(tmp_path / "chest_seg.png").tolist() == [[0, 255], [255, 0]]
    SaveMaskd("pred", output_dir=tmp_path)({"pred": torch.ones(2, 2, 2)})
    assert sorted(p.name for p in tmp_path.glob("image_seg_*.png")) == ["image_seg_0.png", "image_seg_1.png"]
    with pytest.raises(ValueError, match="Unknown output_format 'jpg'"):
        SaveMaskd("pred", output_format="jpg")


def test_old_path_warns() -> None:
    with pytest.warns(DeprecationWarning, match="raddino_monai.transforms.masks.LoadMaskd"):
        from raddino_monai.evaluation import LoadMaskd as old
    assert old is LoadMaskd

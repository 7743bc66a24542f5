"""RandResizedCrop(d): torchvision RandomResizedCrop parameter law, shapes, shared draws, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.transforms import RandResizedCrop, RandResizedCropd


def test_box_follows_area_and_aspect_laws() -> None:
    crop = RandResizedCrop(32, scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3)).set_random_state(0)
    areas, aspects = [], []
    for _ in range(500):
        crop.randomize((200, 160))
        top, left, h, w = crop.box
        assert 0 <= top and top + h <= 200 and 0 <= left and left + w <= 160
        areas.append(h * w / (200 * 160))
        aspects.append(w / h)
    # rounding to whole pixels moves the fraction by < 2 % at this size; the central fallback is the full image
    assert min(areas) > 0.6 - 0.02 and max(areas) <= 1.0
    assert min(aspects) > 3 / 4 - 0.02 and max(aspects) < 4 / 3 + 0.02
    assert min(areas) < 0.63 and max(areas) > 0.95  # the whole range is drawn
    # torchvision's rejection of boxes that do not fit favours smaller areas: the mean is below U(0.6, 1)'s 0.8
    assert 0.7 < float(np.mean(areas)) < 0.8


def test_output_and_content() -> None:
    img = torch.arange(100.0).reshape(1, 10, 10) / 100
    crop = RandResizedCrop(10, scale=(1.0, 1.0), ratio=(1.0, 1.0)).set_random_state(0)
    torch.testing.assert_close(crop(img), img)  # the whole image at its own size is the identity
    out = RandResizedCrop(16).set_random_state(0)(torch.rand(3, 40, 30))
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_dictionary_version_shares_one_box() -> None:
    img = torch.rand(1, 50, 40)
    out = RandResizedCropd(["image", "copy"], 20, mode=("bilinear", "nearest-exact")).set_random_state(1)(
        {"image": img, "copy": img.clone()})
    assert out["image"].shape == out["copy"].shape == (1, 20, 20)
    a = RandResizedCropd("image", 20).set_random_state(4)({"image": img})["image"]
    b = RandResizedCropd("image", 20).set_random_state(4)({"image": img})["image"]
    c = RandResizedCropd("image", 20).set_random_state(5)({"image": img})["image"]
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"size": 0}, "size"), ({"size": 8, "scale": (0.5, 1.2)}, "scale"), ({"size": 8, "ratio": (2, 1)}, "ratio"),
     ({"size": 8, "mode": "lanczos"}, "valid values")],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RandResizedCrop(**kwargs)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"\(C, H, W\) float"):
        RandResizedCrop(8)(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="different spatial shapes"):
        RandResizedCropd(["a", "b"], 8)({"a": torch.rand(1, 10, 10), "b": torch.rand(1, 12, 10)})

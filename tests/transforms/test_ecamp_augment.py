"""ECAMP augmentations: shapes and dtype, the normalisation and flip against a direct computation, the crop-area law,
a region map that follows the image, seeding, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from raddino_monai.transforms import ECAMPAugmentConfig, ecamp_augmentations, ecamp_augmentations_array
from raddino_monai.transforms.resized_crop import RandResizedCropd


def test_defaults_are_ecamps() -> None:
    cfg = ECAMPAugmentConfig()
    assert (cfg.size, cfg.crop_scale, cfg.mode, cfg.flip_prob, cfg.out_channels) == (448, (0.2, 1.0), "bicubic", 0.5, 3)
    assert (cfg.mean, cfg.std) == (0.4721, 0.3037)
    crop = ecamp_augmentations().transforms[0]
    assert isinstance(crop, RandResizedCropd) and crop.croppers[0].size == 448
    assert (crop.croppers[0].scale, crop.croppers[0].mode) == ((0.2, 1.0), "bicubic")


def test_whole_image_crop_flip_and_normalisation() -> None:
    x = torch.rand(1, 40, 40)
    cfg = {"size": 20, "crop_scale": (1.0, 1.0), "crop_ratio": (1.0, 1.0), "flip_prob": 1.0}
    out = ecamp_augmentations("image", cfg).set_random_state(0)({"image": x})["image"]
    resized = F.interpolate(x[None], size=(20, 20), mode="bicubic", antialias=True, align_corners=False)[0]
    expected = ((resized.flip(-1) - 0.4721) / 0.3037).repeat(3, 1, 1)
    assert type(out) is torch.Tensor and out.dtype == torch.float32 and out.shape == (3, 20, 20)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    arr = ecamp_augmentations_array(cfg).set_random_state(0)(x)
    torch.testing.assert_close(arr, out)


def test_crop_area_follows_the_scale_range_and_seeding_repeats() -> None:
    """With a constant image the crop is invisible; use a ramp and measure the covered range of columns."""
    ramp = torch.linspace(0, 1, 200).repeat(1, 200, 1)
    aug = ecamp_augmentations("image", {"size": 50, "flip_prob": 0.0})
    widths = []
    for seed in range(200):
        out = aug.set_random_state(seed)({"image": ramp})["image"][0] * 0.3037 + 0.4721
        widths.append(float(out[:, -1].mean() - out[:, 0].mean()))
    w = np.array(widths)
    # crop width / image width = sqrt(area * ratio): within sqrt(0.2 * 3/4) ~ 0.39 and 1 (clamped at 1)
    assert w.min() > 0.3 and w.max() <= 1.0 and w.std() > 0.1
    a = aug.set_random_state(3)({"image": ramp})["image"]
    b = aug.set_random_state(3)({"image": ramp})["image"]
    assert torch.equal(a, b)


def test_region_map_follows_the_crop_and_flip() -> None:
    image = torch.zeros(1, 64, 64)
    image[:, :, :20] = 1.0  # a bright left band
    region = (image > 0.5).float()
    aug = ecamp_augmentations("image", {"size": 32}, region_key="sr_region")
    for seed in range(10):
        out = aug.set_random_state(seed)({"image": image, "sr_region": region})
        bright = out["image"][0] * 0.3037 + 0.4721 > 0.5
        assert out["sr_region"].shape == (1, 32, 32)
        assert set(out["sr_region"].unique().tolist()) <= {0.0, 1.0}  # nearest-exact, not normalised
        assert (bright == out["sr_region"][0].bool()).float().mean() > 0.9
    assert set(aug({"image": image})) == {"image"}  # items without a map pass


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="Unknown ECAMPAugmentConfig"):
        ecamp_augmentations("image", {"sizes": 3})
    with pytest.raises(ValueError, match="flip_prob"):
        ECAMPAugmentConfig(flip_prob=2.0)

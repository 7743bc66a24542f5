"""ConVIRT augmentation chain: paper ranges per step, shapes / ranges / normalisation, seeding, array = dict."""

from __future__ import annotations

import math

import pytest
import torch

from raddino_monai.transforms import (
    ConVIRTAugmentConfig,
    RandBrightnessContrastd,
    RandGaussianBlurd,
    RandIsotropicAffined,
    RandResizedCropd,
    convirt_augmentations,
    convirt_augmentations_array,
)


def _image() -> torch.Tensor:
    return torch.rand(1, 120, 100, generator=torch.Generator().manual_seed(0))


def test_defaults_are_the_paper_ranges() -> None:
    cfg = ConVIRTAugmentConfig()
    assert (cfg.size, cfg.crop_scale, cfg.flip_prob) == (224, (0.6, 1.0), 0.5)
    assert (cfg.rotate_deg, cfg.translate, cfg.scale) == (20.0, 0.1, (0.95, 1.05))
    assert (cfg.brightness, cfg.contrast, cfg.blur_sigma) == (0.4, 0.4, (0.1, 3.0))
    assert ConVIRTAugmentConfig.resnet50().mean == (0.485, 0.456, 0.406)


def test_step_order_and_parameters() -> None:
    chain = convirt_augmentations("image", ConVIRTAugmentConfig())
    names = [type(t).__name__ for t in chain.transforms]
    assert names == ["RandResizedCropd", "RandFlipd", "RandIsotropicAffined", "RandBrightnessContrastd",
                     "RandGaussianBlurd", "RepeatChanneld", "NormalizeIntensityd", "EnsureTyped"]
    affine = chain.transforms[2].rand_affine.rand_affine_grid
    assert affine.rotate_range == (math.radians(20),)
    assert affine.translate_range == pytest.approx((22.4, 22.4))  # 0.1 x 224 pixels
    assert affine.zoom_range == (0.95, 1.05)


def test_each_augmentation_draws_within_its_range() -> None:
    chain = convirt_augmentations("image", ConVIRTAugmentConfig.tiny()).set_random_state(0)
    crop, flip, affine, jitter, blur = chain.transforms[:5]
    assert isinstance(crop, RandResizedCropd) and isinstance(affine, RandIsotropicAffined)
    assert isinstance(jitter, RandBrightnessContrastd) and isinstance(blur, RandGaussianBlurd)
    image = {"image": _image()}
    flips, brightness, contrast, sigmas, zooms, areas = [], [], [], [], [], []
    for _ in range(200):
        chain(image)
        top, left, h, w = crop.croppers[0].box
        areas.append(h * w / (120 * 100))
        flips.append(flip._do_transform)
        zooms.append(affine.rand_affine.zoom)
        brightness.append(jitter.transform.brightness_factor)
        contrast.append(jitter.transform.contrast_factor)
        sigmas.append(blur.transform.sigma_value)
    assert 0.6 - 0.02 < min(areas) and max(areas) <= 1.0
    assert 0.4 < sum(flips) / len(flips) < 0.6
    assert 0.95 <= min(zooms) and max(zooms) <= 1.05
    for factors in (brightness, contrast):
        assert 0.6 <= min(factors) < 0.65 and 1.35 < max(factors) <= 1.4
    assert 0.1 <= min(sigmas) < 0.3 and 2.8 < max(sigmas) <= 3.0


def test_output_shape_range_and_normalisation() -> None:
    cfg = ConVIRTAugmentConfig.tiny()
    raw = convirt_augmentations("image", ConVIRTAugmentConfig.tiny(normalize=False)).set_random_state(3)
    norm = convirt_augmentations("image", cfg).set_random_state(3)
    x, y = raw({"image": _image()})["image"], norm({"image": _image()})["image"]
    assert x.shape == y.shape == (3, 64, 64) and y.dtype == torch.float32 and type(y) is torch.Tensor
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    torch.testing.assert_close(x[0], x[1])  # grey repeated
    expected = (x - torch.tensor(cfg.mean).view(3, 1, 1)) / torch.tensor(cfg.std).view(3, 1, 1)
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)


def test_seeding_is_deterministic() -> None:
    cfg = ConVIRTAugmentConfig.tiny()
    for build in (lambda: convirt_augmentations("image", cfg), lambda: convirt_augmentations_array(cfg)):
        a, b, c = build().set_random_state(7), build().set_random_state(7), build().set_random_state(8)
        run = (lambda t: t({"image": _image()})["image"]) if isinstance(a.transforms[0], RandResizedCropd) else (
            lambda t: t(_image()))
        outs_a, outs_b = [run(a) for _ in range(3)], [run(b) for _ in range(3)]
        for x, y in zip(outs_a, outs_b):
            torch.testing.assert_close(x, y)
        assert not torch.allclose(outs_a[1], outs_a[2])  # a new draw per call
        assert not torch.allclose(run(c), outs_a[0])
        assert outs_a[0].shape == (3, 64, 64)


def test_config_from_mapping_and_errors() -> None:
    out = convirt_augmentations("image", {"size": 32})({"image": _image()})
    assert out["image"].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="valid fields"):
        convirt_augmentations("image", {"sise": 32})
    with pytest.raises(ValueError, match="flip_prob must be in"):
        ConVIRTAugmentConfig(flip_prob=2.0)
    with pytest.raises(ValueError, match="mean and std need out_channels=1"):
        ConVIRTAugmentConfig(out_channels=1)

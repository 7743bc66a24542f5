"""Tests for raddino_monai.transforms.multicrop (DINO multi-crop views)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from raddino_monai.transforms.multicrop import CROP_SAMPLERS, MultiCrop, MultiCropConfig, MultiCropd

# views equal to the crop itself: every photometric augmentation off, no normalisation
PLAIN = {
    "jitter_prob": 0.0,
    "global_blur_probs": (0.0, 0.0),
    "local_blur_prob": 0.0,
    "global_solarize_probs": (0.0, 0.0),
    "normalize": False,
}


def _smooth_image(height: int = 150, width: int = 130) -> torch.Tensor:
    """A (1, H, W) image in [0, 1] with structure everywhere, so different crops give different views."""
    rows = torch.linspace(0, 6, height)[:, None]
    cols = torch.linspace(0, 9, width)[None, :]
    return (0.5 + 0.25 * torch.sin(rows) * torch.cos(cols) + 0.2 * torch.sin(rows * cols / 7))[None].clamp(0, 1)


def test_tiny_shapes_and_types() -> None:
    views = MultiCrop(MultiCropConfig.tiny(), seed=0)(_smooth_image())
    assert len(views["global_crops"]) == 2 and len(views["local_crops"]) == 4
    assert all(v.shape == (3, 112, 112) and v.dtype == torch.float32 for v in views["global_crops"])
    assert all(v.shape == (3, 48, 48) for v in views["local_crops"])
    assert all(type(v) is torch.Tensor for v in views["global_crops"] + views["local_crops"])


def test_raddino_shapes_and_normalisation() -> None:
    views = MultiCrop(MultiCropConfig.raddino(**PLAIN | {"normalize": True}), seed=0)(_smooth_image(259, 300))
    assert [tuple(v.shape) for v in views["global_crops"]] == [(3, 518, 518)] * 2
    assert [tuple(v.shape) for v in views["local_crops"]] == [(3, 196, 196)] * 8
    raw = views["global_crops"][0] * 0.2583 + 0.5307  # undo [HF] normalisation
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5
    torch.testing.assert_close(raw[0], raw[2])  # grey image repeated to 3 channels


def test_every_view_has_its_own_draw() -> None:
    views = MultiCrop(MultiCropConfig.tiny(), seed=3)(_smooth_image())
    for group in ("global_crops", "local_crops"):
        for a, b in itertools.combinations(views[group], 2):
            assert not torch.allclose(a, b, atol=1e-3)


def test_set_random_state_determinism() -> None:
    img = _smooth_image()
    t = MultiCrop(MultiCropConfig.tiny(gamma_prob=0.5))
    first = t.set_random_state(11)(img)
    again = t.set_random_state(11)(img)
    other = MultiCrop(MultiCropConfig.tiny(gamma_prob=0.5), seed=11)(img)
    different = t.set_random_state(12)(img)
    for key in ("global_crops", "local_crops"):
        for a, b, c in zip(first[key], again[key], other[key]):
            torch.testing.assert_close(a, b)
            torch.testing.assert_close(a, c)
    assert not torch.allclose(first["global_crops"][0], different["global_crops"][0])


def test_randomize_false_replays_last_draw() -> None:
    t = MultiCrop(MultiCropConfig.tiny(), seed=0)
    img = _smooth_image()
    first = t(img)
    replay = t(img, randomize=False)
    for a, b in zip(first["local_crops"], replay["local_crops"]):
        torch.testing.assert_close(a, b)
    with pytest.raises(RuntimeError, match="randomize"):
        MultiCrop(MultiCropConfig.tiny())(img, randomize=False)


def test_side_mode_is_relative_to_short_side() -> None:
    t = MultiCrop(MultiCropConfig.raddino(aspect_ratio=(1.0, 1.0)), seed=0)
    for _ in range(200):
        t.randomize((1036, 1300))  # short side 2 x 518: sides ~ U(518, 1036)
        for p in t.global_params:
            top, left, h, w = p.box
            assert h == w and 518 <= h <= 1036 and top + h <= 1036 and left + w <= 1300


@pytest.mark.parametrize("mode", sorted(CROP_SAMPLERS))
def test_boxes_stay_inside_non_square_images(mode: str) -> None:
    t = MultiCrop(MultiCropConfig.raddino(crop_mode=mode, aspect_ratio=(0.5, 2.0)), seed=0)
    for shape in [(60, 200), (300, 90), (64, 64)]:
        for _ in range(100):
            t.randomize(shape)
            for top, left, h, w in (p.box for p in t.global_params + t.local_params):
                assert 0 <= top and 0 <= left and h >= 1 and w >= 1
                assert top + h <= shape[0] and left + w <= shape[1]


def test_flip_probability_and_effect() -> None:
    t = MultiCrop(MultiCropConfig.tiny(), seed=0)
    flips = []
    for _ in range(2000):
        t.randomize((100, 100))
        flips += [p.flip for p in t.global_params + t.local_params]
    assert abs(np.mean(flips) - 0.5) < 0.02

    full = MultiCrop(MultiCropConfig.tiny(global_scale=(1.0, 1.0), aspect_ratio=(1.0, 1.0), **PLAIN), seed=1)
    img = torch.linspace(0, 1, 112).expand(1, 112, 112).contiguous()  # left-right ramp, already 112 px
    seen = set()
    for _ in range(20):
        views = full(img)
        for p, v in zip(full.global_params, views["global_crops"]):
            expected = img.flip(-1) if p.flip else img
            torch.testing.assert_close(v[0], expected[0], atol=1e-5, rtol=0)
            seen.add(p.flip)
    assert seen == {True, False}


def test_solarize_only_on_second_global_view() -> None:
    cfg = MultiCropConfig.tiny(**PLAIN | {"global_solarize_probs": (0.0, 1.0)})
    views = MultiCrop(cfg, seed=0)(torch.full((1, 80, 90), 0.75))
    torch.testing.assert_close(views["global_crops"][0], torch.full((3, 112, 112), 0.75))
    torch.testing.assert_close(views["global_crops"][1], torch.full((3, 112, 112), 0.25))
    for v in views["local_crops"]:
        torch.testing.assert_close(v, torch.full((3, 48, 48), 0.75))


def test_blur_probability_is_per_view() -> None:
    full_crop = {"global_scale": (1.0, 1.0), "aspect_ratio": (1.0, 1.0), "blur_sigma": (2.0, 2.0)}
    cfg = MultiCropConfig.tiny(**PLAIN | full_crop | {"global_blur_probs": (0.0, 1.0), "local_blur_prob": 1.0})
    checker = ((torch.arange(112)[:, None] + torch.arange(112)[None, :]) % 2).float()[None]
    views = MultiCrop(cfg, seed=0)(checker)
    first, second = views["global_crops"]
    assert first[0].std() > 0.45  # unblurred checkerboard (up to a flip)
    assert second[0].std() < 0.2  # blurred
    assert all(v[0].std() < 0.2 for v in views["local_crops"])


def test_config_validation_errors() -> None:
    with pytest.raises(ValueError, match=r"crop_mode must be one of \['area', 'side'\]"):
        MultiCropConfig(crop_mode="bogus")
    with pytest.raises(ValueError, match="global_blur_probs needs one value per global view"):
        MultiCropConfig(n_global=3)
    with pytest.raises(ValueError, match="local_scale"):
        MultiCropConfig(local_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="Unknown MultiCropConfig field"):
        MultiCrop({"global_sise": 10})
    assert MultiCrop({"global_size": 64, "local_size": 32}).config.global_size == 64  # bundle-JSON mapping


def test_bad_images() -> None:
    t = MultiCrop(MultiCropConfig.tiny())
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        t(torch.rand(64, 64))
    with pytest.raises(ValueError, match="C in"):
        t(torch.rand(2, 64, 64))
    with pytest.raises(ValueError, match="float"):
        t(torch.zeros(1, 64, 64, dtype=torch.uint8))


def test_metatensor_and_rgb_inputs() -> None:
    t = MultiCrop(MultiCropConfig.tiny(), seed=0)
    views = t(MetaTensor(_smooth_image(), meta={"filename_or_obj": "a.png"}))
    assert type(views["global_crops"][0]) is torch.Tensor
    assert t(_smooth_image().expand(3, -1, -1))["local_crops"][0].shape == (3, 48, 48)


def test_dictionary_version() -> None:
    t = MultiCropd("image", MultiCropConfig.tiny(), seed=0)
    out = t({"image": _smooth_image(), "label": 1})
    assert sorted(out) == ["global_crops", "label", "local_crops"]
    reference = MultiCrop(MultiCropConfig.tiny(), seed=0)(_smooth_image())
    torch.testing.assert_close(out["local_crops"][3], reference["local_crops"][3])  # same draws as the array version
    kept = MultiCropd("image", MultiCropConfig.tiny(), delete_keys=False, global_key="g")({"image": _smooth_image()})
    assert sorted(kept) == ["g", "image", "local_crops"]
    with pytest.raises(ValueError, match="exactly one image key"):
        MultiCropd(["image", "other"])
    assert MultiCropd("image", allow_missing_keys=True)({"x": 1}) == {"x": 1}

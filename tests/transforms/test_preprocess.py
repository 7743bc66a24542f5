"""Tests for raddino_monai.transforms.preprocess, including parity with rad-dino's HF BitImageProcessor (PIL)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from PIL import Image

from raddino_monai.data.synthetic import make_synthetic_cxr
from raddino_monai.transforms import (
    FIT_MODES,
    RADDINO_PREPROCESS,
    FitToSquare,
    FitToSquared,
    LoadCXR,
    ResizeShortestEdge,
    ResizeShortestEdged,
    raddino_preprocessing,
    raddino_preprocessing_array,
)

STD = RADDINO_PREPROCESS.std
# Parity tolerance, in grey levels of the 8-bit input, converted to normalised units (/255/std).
# The HF slow processor resizes the uint8 PIL image (two separable passes, each rounded to uint8) and rescales
# afterwards; we resize floats and never round. So the two differ by the rounding of PIL's passes: measured max
# 1.08 and mean 0.30 grey levels on the sample images (upsampling 256 -> 518), max 1.04 / mean 0.27 on the real
# 1024-px sample DICOM and similar on 720x600 / 300x1100 synthetic images (downsampling), never more. A wrong kernel,
# no antialiasing or a 1-px crop shift is many levels off (see the negative control below).
PARITY_MAX = 1.25 / 255 / STD
PARITY_MEAN = 0.40 / 255 / STD


def _hf_processor():
    """rad-dino's processor, slow/PIL semantics (``use_fast=False``), built offline from our config dict."""
    bit = pytest.importorskip("transformers.models.bit")
    cls = getattr(bit, "BitImageProcessorPil", None) or bit.BitImageProcessor  # transformers 5 / 4 slow class
    config = RADDINO_PREPROCESS.to_hf_preprocessor_config()
    config.pop("image_processor_type")
    return cls(**config)


def test_hf_config_matches_raddino_release():
    config = RADDINO_PREPROCESS.to_hf_preprocessor_config()
    assert json.loads(json.dumps(config)) == config
    assert config["size"] == {"shortest_edge": 518} and config["crop_size"] == {"height": 518, "width": 518}
    assert config["resample"] == 3 and config["rescale_factor"] == pytest.approx(1 / 255)
    assert config["image_mean"] == [0.5307] * 3 and config["image_std"] == [0.2583] * 3
    processor = _hf_processor()
    assert processor.do_convert_rgb and processor.do_center_crop and list(processor.image_mean) == [0.5307] * 3
    assert processor.to_dict()["image_processor_type"] == "BitImageProcessor"


def _pngs(sample_pngs, sample_dicom_dir, tmp_path):
    """Real sample PNGs (upsampled 256 -> 518), the real 1024 px DICOM as an exact 8-bit PNG (downsampled) and two
    synthetic images with other aspect ratios (downsampled)."""
    sizes = {"down_portrait.png": (720, 600), "down_wide.png": (300, 1100)}
    paths = list(sample_pngs[:3])
    dicom = LoadCXR()(sample_dicom_dir / "cxr_monochrome2_jpeg.dcm")[0].numpy()  # 8-bit: stored / 255 exactly
    Image.fromarray(np.round(dicom * 255).astype(np.uint8)).save(tmp_path / "real_dicom_1024.png")
    paths.append(tmp_path / "real_dicom_1024.png")
    for name, size in sizes.items():
        image = make_synthetic_cxr(size, seed=len(name))[0]
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(tmp_path / name)
        paths.append(tmp_path / name)
    return paths


def test_parity_with_bit_image_processor(sample_pngs, sample_dicom_dir, tmp_path):
    processor = _hf_processor()
    ours = raddino_preprocessing_array()
    for path in _pngs(sample_pngs, sample_dicom_dir, tmp_path):
        with Image.open(path) as pil:
            reference = torch.as_tensor(np.asarray(processor(pil)["pixel_values"][0]))
        mine = ours(LoadCXR()(path))
        assert tuple(mine.shape) == tuple(reference.shape) == (3, 518, 518)
        diff = (torch.as_tensor(mine) - reference).abs()
        assert float(diff.max()) <= PARITY_MAX, f"{path.name}: max |diff| {float(diff.max()):.4f}"
        assert float(diff.mean()) <= PARITY_MEAN, f"{path.name}: mean |diff| {float(diff.mean()):.5f}"


def test_parity_tolerance_catches_wrong_resampling(tmp_path):
    """Negative control: plain (non-antialiased) bicubic must fail the parity tolerance when downsampling."""
    image = make_synthetic_cxr((720, 600), seed=3)[0]
    path = tmp_path / "big.png"
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
    with Image.open(path) as pil:
        reference = torch.as_tensor(np.asarray(_hf_processor()(pil)["pixel_values"][0]))
    x = LoadCXR()(path).as_tensor()[None]
    wrong = F.interpolate(x, size=(621, 518), mode="bicubic", align_corners=False).clamp(0, 1)[0]
    top = (621 - 518) // 2
    wrong = (wrong[:, top : top + 518] - 0.5307) / STD
    assert float((wrong - reference[:1]).abs().max()) > PARITY_MAX


@pytest.mark.parametrize(
    "shape, expected", [((1, 600, 400), (777, 518)), ((1, 40, 90), (518, 1165)), ((2, 50, 50), (518, 518))]
)
def test_resize_shortest_edge_shapes(shape, expected):
    out = ResizeShortestEdge(518)(torch.rand(shape))
    assert tuple(out.shape) == (shape[0], *expected)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # bicubic overshoot clipped to the [0, 1] range


def test_resize_keeps_constant_and_meta():
    affine = torch.diag(torch.tensor([0.2, 0.2, 1.0], dtype=torch.float64))
    img = MetaTensor(torch.full((1, 100, 80), 0.25), affine=affine)
    img.meta["filename_or_obj"] = "a.png"
    out = ResizeShortestEdge(40)(img)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "a.png"
    torch.testing.assert_close(out.as_tensor(), torch.full((1, 50, 40), 0.25))
    assert float(out.affine[0, 0]) == pytest.approx(0.4)  # pixel size doubled by the 2x downsampling


def test_fit_to_square_pad_centres_whole_image():
    img = torch.ones(1, 100, 50)
    out = FitToSquare(20, mode="pad")(img)
    assert tuple(out.shape) == (1, 20, 20)
    torch.testing.assert_close(out[:, :, 5:15], torch.ones(1, 20, 10))  # whole image, centred
    ramp = torch.linspace(0.2, 0.9, 100 * 50).reshape(1, 100, 50)
    padded = FitToSquare(20, mode="pad")(ramp)
    assert float(padded[0, :, 0].max()) == pytest.approx(float(padded.min())) and float(padded.min()) >= 0.2 - 1e-6
    zero = FitToSquare(20, mode="pad", pad_value=0.0)(ramp)
    assert float(zero[0, :, :5].abs().max()) == 0.0


def test_fit_to_square_resize_and_dict_versions():
    data = {"image": torch.rand(1, 30, 60), "other": 1}
    assert tuple(FitToSquared("image", 16, mode="resize")(data)["image"].shape) == (1, 16, 16)
    assert tuple(ResizeShortestEdged("image", 15)(data)["image"].shape) == (1, 15, 30)
    with pytest.raises(ValueError, match="pad.*resize"):
        FitToSquare(16, mode="crop")


@pytest.mark.parametrize("fit", FIT_MODES)
def test_raddino_preprocessing_chain(fit):
    data = {"image": MetaTensor(torch.full((1, 300, 200), 0.5307))}
    out = raddino_preprocessing(fit=fit)(data)["image"]
    assert tuple(out.shape) == (3, 518, 518) and out.dtype == torch.float32
    if fit != "pad":  # the image value maps to 0 after normalisation
        assert float(out.abs().max()) < 1e-5
    array_out = raddino_preprocessing_array(fit=fit, size=28, channels=1)(torch.rand(1, 30, 20))
    assert tuple(array_out.shape) == (1, 28, 28)


def test_invalid_fit_lists_values():
    with pytest.raises(ValueError, match="crop.*pad.*resize"):
        raddino_preprocessing(fit="letterbox")

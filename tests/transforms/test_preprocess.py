"""Tests for raddino_monai.transforms.preprocess, including parity with rad-dino's HF BitImageProcessor (PIL)."""

from __future__ import annotations

import json
from pathlib import Path

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
    RESIZE_BACKENDS,
    FitToSquare,
    FitToSquared,
    LoadCXR,
    ResizeShortestEdge,
    ResizeShortestEdged,
    raddino_preprocessing,
    raddino_preprocessing_array,
)

STD = RADDINO_PREPROCESS.std
SAMPLE_IMAGES = sorted((Path(__file__).resolve().parents[2] / "raddino_monai" / "sample_data" / "images").glob("*.png"))
# The "torch" backend (float resize, one clamp at the end) vs the processor on the 100 sample PNGs at 518 px,
# measured: max 18.0 grey levels (0.0706 in [0, 1] units), median of the per-image maxima 1.08 levels; the largest
# differences sit next to burnt-in text, where PIL clips the overshoot of its first (uint8) pass. Bound: 19 levels.
TORCH_BACKEND_MAX = 19 / 255 / STD


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


def _reference(processor, pil_image) -> np.ndarray:
    return np.asarray(processor(pil_image)["pixel_values"][0])


def test_pil_backend_is_bit_exact_on_every_sample_image():
    assert len(SAMPLE_IMAGES) == 100
    processor = _hf_processor()
    ours = raddino_preprocessing_array()  # the default backend
    assert RADDINO_PREPROCESS.resize_backend == "pil"
    for path in SAMPLE_IMAGES:
        with Image.open(path) as pil:
            reference = _reference(processor, pil)
        mine = np.asarray(ours(LoadCXR()(path)))
        assert mine.dtype == reference.dtype == np.float32 and mine.shape == reference.shape == (3, 518, 518)
        assert np.array_equal(mine, reference), f"{path.name}: max |diff| {np.abs(mine - reference).max()}"


def test_pil_backend_is_bit_exact_on_the_sample_dicoms(sample_dicom_dir):
    """The reference is the processor on the 8-bit picture pydicom decodes (MONOCHROME1 inverted), not on our load."""
    import pydicom

    processor = _hf_processor()
    for name in ("cxr_monochrome1_jpeg.dcm", "cxr_monochrome2_jpeg.dcm"):
        ds = pydicom.dcmread(sample_dicom_dir / name)
        stored = np.asarray(ds.pixel_array).astype(np.uint8)
        shown = 255 - stored if ds.PhotometricInterpretation == "MONOCHROME1" else stored
        reference = _reference(processor, Image.fromarray(shown))
        mine = np.asarray(raddino_preprocessing_array()(LoadCXR()(sample_dicom_dir / name)))
        assert np.array_equal(mine, reference), name


def test_pil_backend_dict_version_keeps_meta_and_other_fits(sample_pngs):
    image = LoadCXR()(sample_pngs[0])
    out = raddino_preprocessing(fit="crop")({"image": image})["image"]
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == str(sample_pngs[0])
    for fit in ("pad", "resize"):
        x = raddino_preprocessing_array(size=64, fit=fit, channels=1)(torch.rand(1, 90, 40))
        assert tuple(x.shape) == (1, 64, 64) and x.dtype == torch.float32
    with pytest.raises(ValueError, match="pil.*torch"):
        raddino_preprocessing(resize_backend="cv2")


def test_torch_backend_difference_is_the_stated_one():
    """The fast float path is an option, not the processor: its measured distance is what the docs state."""
    processor = _hf_processor()
    fast = raddino_preprocessing_array(resize_backend="torch")
    worst = 0.0
    for path in SAMPLE_IMAGES:
        with Image.open(path) as pil:
            reference = _reference(processor, pil)
        worst = max(worst, float(np.abs(np.asarray(fast(LoadCXR()(path))) - reference).max()))
    assert 10 / 255 / STD < worst <= TORCH_BACKEND_MAX  # not exact, and no worse than stated


def test_parity_tolerance_catches_wrong_resampling(tmp_path):
    """Negative control: plain (non-antialiased) bicubic is far from the processor when downsampling."""
    image = make_synthetic_cxr((720, 600), seed=3)[0]
    path = tmp_path / "big.png"
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
    with Image.open(path) as pil:
        reference = torch.as_tensor(_reference(_hf_processor(), pil))
    assert torch.equal(raddino_preprocessing_array()(LoadCXR()(path)), reference)  # downsampling is exact too
    x = LoadCXR()(path).as_tensor()[None]
    wrong = F.interpolate(x, size=(621, 518), mode="bicubic", align_corners=False).clamp(0, 1)[0]
    top = (621 - 518) // 2
    wrong = (wrong[:, top : top + 518] - 0.5307) / STD
    assert float((wrong - reference[:1]).abs().max()) > 2 / 255 / STD


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


@pytest.mark.parametrize("backend", RESIZE_BACKENDS)
@pytest.mark.parametrize("fit", FIT_MODES)
def test_raddino_preprocessing_chain(fit, backend):
    value = 135 / 255  # an 8-bit level, so the "pil" backend's uint8 step keeps it
    data = {"image": MetaTensor(torch.full((1, 300, 200), value))}
    out = raddino_preprocessing(fit=fit, resize_backend=backend)(data)["image"]
    assert tuple(out.shape) == (3, 518, 518) and out.dtype == torch.float32
    if fit != "pad":  # a constant image stays constant
        expected = (value - RADDINO_PREPROCESS.mean) / STD
        assert float((out - expected).abs().max()) < 1e-5
    array_out = raddino_preprocessing_array(fit=fit, size=28, channels=1, resize_backend=backend)(torch.rand(1, 30, 20))
    assert tuple(array_out.shape) == (1, 28, 28)


def test_invalid_fit_lists_values():
    with pytest.raises(ValueError, match="crop.*pad.*resize"):
        raddino_preprocessing(fit="letterbox")

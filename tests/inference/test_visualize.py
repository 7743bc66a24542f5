"""Attention maps and patch correspondences: values, shapes and the PNG files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from raddino_monai.data.sample import sample_data_dir
from raddino_monai.inference.visualize import (
    cls_attention,
    patch_similarity,
    save_attention_png,
    save_patch_similarity_png,
)
from raddino_monai.models import create_backbone

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return create_backbone("tiny_vit_p14").eval()


def test_cls_attention_is_a_distribution_per_head(backbone):
    image = torch.randn(3, 56, 84)
    maps = cls_attention(backbone, image)
    assert tuple(maps.shape) == (backbone.num_heads, 56, 84)
    # nearest upsampling repeats each patch value patch_size**2 times: sum over pixels = 14*14 per head
    torch.testing.assert_close(maps.sum(dim=(1, 2)), torch.full((backbone.num_heads,), 14.0 * 14.0))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        cls_attention(backbone, image[None])


def test_patch_similarity_is_one_at_the_query_on_the_same_image(backbone):
    image = torch.randn(3, 56, 56)
    sim = patch_similarity(backbone, image, image, (1, 2))
    assert tuple(sim.shape) == (4, 4)
    assert sim[1, 2] == pytest.approx(1.0, abs=1e-5)
    assert float(sim.max()) <= 1.0 + 1e-5 and float(sim.min()) >= -1.0 - 1e-5
    with pytest.raises(ValueError, match="outside the source patch grid"):
        patch_similarity(backbone, image, image, (4, 0))


def test_pngs_are_written(backbone, tmp_path):
    image = torch.randn(3, 56, 56)
    att = save_attention_png(image, cls_attention(backbone, image), tmp_path / "a" / "att.png", "t")
    sim = patch_similarity(backbone, image, image, (0, 0))
    corr = save_patch_similarity_png(image, image, sim, (0, 0), 14, tmp_path / "corr.png")
    for path in (att, corr):
        with Image.open(path) as png:
            assert png.format == "PNG" and png.size[0] > 100


@pytest.mark.slow
def test_visualize_cli_on_sample_images(tmp_path):
    images = sorted((sample_data_dir() / "images").glob("*.png"))[:2]
    cmd = [sys.executable, str(REPO / "tools" / "visualize.py"), "--image", str(images[0]), "--target",
           str(images[1]), "--arch", "tiny_vit_p14", "--out_dir", str(tmp_path)]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
    a, b = images[0].name[:-4], images[1].name[:-4]  # outputs are named after the inputs
    assert (tmp_path / f"{a}_attention.png").is_file() and (tmp_path / f"{a}_patch_similarity_{b}.png").is_file()

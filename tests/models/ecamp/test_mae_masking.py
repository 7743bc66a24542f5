"""MAE random masking statistics and visible-only encoding against a NumPy timm-ViT forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference.numpy_vit import vit_forward

from raddino_monai.models import create_backbone
from raddino_monai.models.ecamp.mae_masking import encode_visible, patchify, random_masking, unpatchify
from raddino_monai.models.weights import hf_to_timm, released_state_dict


def test_exactly_75_percent_masked_per_image() -> None:
    m = random_masking(16, 196, 0.75)  # ECAMP: 224 px, patch 16
    assert m.ids_keep.shape == (16, 49) and m.ids_restore.shape == (16, 196)
    assert m.mask.sum(dim=1).tolist() == [147.0] * 16
    assert torch.all(torch.gather(m.mask, 1, m.ids_keep) == 0)  # kept patches are the unmasked ones
    assert m.mask.dtype == torch.float32


def test_ids_restore_inverts_the_shuffle() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(4, 20, generator=g)
    m = random_masking(4, 20, 0.75, noise=noise)
    ids_shuffle = np.argsort(noise.numpy(), axis=1)  # NumPy re-derivation: ascending noise = keep first
    np.testing.assert_array_equal(m.ids_keep.numpy(), ids_shuffle[:, :5])
    np.testing.assert_array_equal(m.ids_restore.numpy(), np.argsort(ids_shuffle, axis=1))
    x = torch.arange(4 * 20).reshape(4, 20)
    shuffled = torch.gather(x, 1, torch.from_numpy(ids_shuffle))
    assert torch.equal(torch.gather(shuffled, 1, m.ids_restore), x)  # un-shuffle = identity
    expected_mask = np.ones((4, 20))
    np.put_along_axis(expected_mask, ids_shuffle[:, :5], 0, axis=1)
    np.testing.assert_array_equal(m.mask.numpy(), expected_mask)


def test_every_patch_equally_likely_and_ratio_edge_cases() -> None:
    masks = random_masking(4000, 16, 0.75, generator=torch.Generator().manual_seed(1)).mask
    assert torch.allclose(masks.mean(0), torch.full((16,), 0.75), atol=0.03)
    assert random_masking(2, 10, 0.0).mask.sum() == 0
    assert random_masking(2, 10, 0.95).ids_keep.shape == (2, 0)  # int(10 * 0.05) = 0 kept, as MAE computes
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        random_masking(2, 10, 1.0)
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        random_masking(2, 10, 0.5, noise=torch.rand(2, 9))


@pytest.fixture
def backbone_64():
    """tiny ViT/16 with position embeddings stored for 64 px (4 x 4 grid: no interpolation), eval mode."""
    return create_backbone("tiny_vit_p16", image_size=64, num_hidden_layers=2).eval()


def test_visible_encoding_matches_numpy_vit(backbone_64) -> None:
    timm_state = {k: v.numpy() for k, v in hf_to_timm(released_state_dict(backbone_64)).items()}
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    keep = torch.tensor([[5, 0, 15, 9], [3, 7, 1, 12]])
    with torch.no_grad():
        got = encode_visible(backbone_64, images, keep)
    ref = vit_forward(timm_state, images.numpy(), backbone_64.num_heads, keep=keep.tolist())
    assert got.shape == (2, 5, 192)
    np.testing.assert_allclose(got.numpy(), ref, atol=2e-4)


def test_keeping_every_patch_is_the_plain_forward(backbone_64) -> None:
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        full = encode_visible(backbone_64, images, torch.arange(16).expand(2, -1))
        ref = backbone_64.model(pixel_values=images).last_hidden_state
    torch.testing.assert_close(full, ref, atol=1e-5, rtol=1e-5)


def test_interpolated_and_register_backbones() -> None:
    regs = create_backbone("tiny_vit_p16", num_register_tokens=2, num_hidden_layers=1).eval()  # 112 px table
    images = torch.randn(1, 3, 32, 32)  # 2 x 2 grid: position embeddings interpolated by transformers
    with torch.no_grad():
        out = encode_visible(regs, images, torch.arange(4)[None])
        ref = regs.forward_features(images)
    torch.testing.assert_close(out[:, 0], ref["cls_token"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[:, 1:], ref["patch_tokens"], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="must index"):
        encode_visible(regs, images, torch.tensor([[4]]))


def test_patchify_matches_loops_and_round_trips() -> None:
    x = torch.randn(2, 3, 8, 12)
    patches = patchify(x, 4)
    assert patches.shape == (2, 6, 48)
    n = 1 * 3 + 2  # patch row 1, column 2
    expected = np.stack([x[1, c, 4:8, 8:12].numpy() for c in range(3)], axis=-1).reshape(-1)  # pixels, channel last
    np.testing.assert_array_equal(patches[1, n].numpy(), expected)
    assert torch.equal(unpatchify(patches, 4, (2, 3), 3), x)
    with pytest.raises(ValueError, match="divisible"):
        patchify(torch.zeros(1, 3, 10, 8), 4)
    with pytest.raises(ValueError, match="unpatchify expects"):
        unpatchify(patches, 4, (3, 3), 3)


def test_old_module_paths_warn_and_resolve() -> None:
    import raddino_monai.models.ecamp as new

    for old, name in (("mae_masking", "random_masking"), ("mae_decoder", "MAEDecoder"), ("sr_head", "box_region_map"),
                      ("context_fusion", "ContextFusionLayer"), ("report_decoder", "build_report_decoder")):
        module = __import__(f"raddino_monai.models.{old}", fromlist=[name])
        with pytest.warns(DeprecationWarning, match=f"moved to raddino_monai.models.ecamp.{old}.{name}"):
            assert getattr(module, name) is getattr(new, name)

"""Cached features (public extraction API) give the same projector tokens as the live encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.report import EncoderReference, cache_features, feature_tokens, load_feature_tokens
from raddino_monai.transforms import LoadCXRd, raddino_preprocessing


@pytest.mark.parametrize("use_cls", [False, True])
def test_cached_tokens_equal_live_tokens(tmp_path, use_cls) -> None:
    paths = sorted((sample_data_dir() / "images").glob("*.png"))[:2]
    ref = EncoderReference(arch="tiny_vit_p14", init_seed=1, image_size=28)
    out = cache_features([str(p) for p in paths], tmp_path / "feats.npz", ref, batch_size=2, progress=False)
    ids, tokens = load_feature_tokens(out, use_cls=use_cls)
    assert ids == [str(p) for p in paths] and tokens.shape == (2, 4 + use_cls, 192)
    preprocess = raddino_preprocessing("image", 28, "crop")
    images = torch.stack([torch.as_tensor(preprocess(LoadCXRd("image")({"image": str(p)}))["image"]) for p in paths])
    with torch.no_grad():
        feats = ref.build().forward_features(images.float())
    live = feature_tokens(feats["cls_token"], feats["patch_tokens"], use_cls)
    np.testing.assert_allclose(tokens, live.numpy(), rtol=1e-5, atol=1e-5)


def test_feature_tokens_puts_cls_first() -> None:
    cls, patches = torch.zeros(2, 3), torch.ones(2, 4, 3)
    out = feature_tokens(cls, patches, use_cls=True)
    assert out.shape == (2, 5, 3) and out[:, 0].abs().sum() == 0 and torch.equal(out[:, 1:], patches)
    assert feature_tokens(cls, patches, use_cls=False) is patches


def test_missing_arrays_are_named(tmp_path) -> None:
    from raddino_monai.inference import save_embeddings

    path = save_embeddings(tmp_path / "cls_only.npz", ["a"], {"cls": np.zeros((1, 3), np.float32)}, {})
    with pytest.raises(KeyError, match=r"lacks \['patch'\] \(found \['cls'\]\)"):
        load_feature_tokens(path, use_cls=False)

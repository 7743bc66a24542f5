"""warn_if_random_init: loud for a ViT-B/14 RAD-DINO recipe without weights, silent otherwise."""

from __future__ import annotations

import warnings

import pytest

from raddino_monai.models import RandomInitWarning, warn_if_random_init


def test_warns_for_full_size_random_init(caplog) -> None:
    with caplog.at_level("WARNING"), pytest.warns(RandomInitWarning, match=r"raddino_vitb14 .*518 px\) starts from "
                                                                           r"RANDOM weights.*--backbone_weights"):
        assert warn_if_random_init("raddino_vitb14", None) is True
    assert "RANDOM weights" in caplog.text


def test_silent_with_weights_or_for_small_models() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_random_init("raddino_vitb14", "/models/rad-dino") is False
        assert warn_if_random_init("tiny_vit_p16", None) is False
        assert warn_if_random_init("dinov2_vits14", None) is False

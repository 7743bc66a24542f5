"""tools/benchmark_embeddings.py on a tiny random model: every variant reports a rate and the card's features within
float rounding (fp32, compiled fp32) or bfloat16 rounding."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).parents[2] / "tools" / "benchmark_embeddings.py"


def _tool():
    spec = importlib.util.spec_from_file_location("benchmark_embeddings", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eager_variants_match_the_card_path() -> None:
    result = _tool().benchmark(arch="tiny_vit_p14", n_images=2, batch_size=2, repeats=1, precisions=("fp32", "bf16"))
    assert result["card_img_s"] > 0 and result["fp32_img_s"] > 0 and result["bf16_img_s"] > 0
    assert result["fp32_max_cls_diff"] < 1e-4 and result["same_pixels_max_cls_diff"] < 1e-4
    assert result["bf16_min_cos"] > 0.99


@pytest.mark.slow
def test_compiled_variant_matches_the_card_path() -> None:
    result = _tool().benchmark(arch="tiny_vit_p14", n_images=2, batch_size=2, repeats=1, precisions=("fp32_compile",))
    assert result["fp32_compile_max_cls_diff"] < 1e-4


def test_unknown_variant_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="fp32_compile"):
        _tool().benchmark(arch="tiny_vit_p14", n_images=2, precisions=("fp64",))

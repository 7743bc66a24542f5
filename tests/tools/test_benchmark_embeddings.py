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
    # roofline: FLOPs of a 518 px forward of this model re-derived by hand (6 blocks, width 192, MLP 4x, CLS + 37^2
    # patches): projections + MLP 2 T (4 D^2 + 8 D^2), attention scores and weighted sum 4 T^2 D, patch embedding
    t, d = (518 // 14) ** 2 + 1, 192
    by_hand = 6 * (2 * t * 12 * d * d + 4 * t * t * d) + 2 * (t - 1) * 3 * 14 * 14 * d
    assert result["flops_per_image"] == pytest.approx(by_hand, rel=0.02)
    assert result["fp32_ceiling_ratio"] == pytest.approx(result["gemm_fp32_flop_s"] / result["card_flop_s"])


@pytest.mark.slow
def test_compiled_variant_matches_the_card_path() -> None:
    result = _tool().benchmark(arch="tiny_vit_p14", n_images=2, batch_size=2, repeats=1, precisions=("fp32_compile",))
    assert result["fp32_compile_max_cls_diff"] < 1e-4


def test_unknown_variant_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="fp32_compile"):
        _tool().benchmark(arch="tiny_vit_p14", n_images=2, precisions=("fp64",))

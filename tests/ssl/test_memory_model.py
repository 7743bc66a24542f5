"""Memory model of an SSL step: exact parameter/optimizer bytes, the per-block activation count re-derived by hand,
sharding arithmetic, and the prediction against torch's MemTracker on a small CPU step."""

from __future__ import annotations

import pytest

from raddino_monai.ssl import SSLConfig, StudentTeacher
from raddino_monai.ssl.memory_model import (
    block_activation_bytes,
    estimate_step_memory,
    max_batch_per_gpu,
    measure_step_memory,
    model_sizes,
)

SMALL = {"n_prototypes": 64, "hidden_dim": 32, "bottleneck_dim": 16}


def test_model_sizes_count_the_real_model() -> None:
    config = SSLConfig.tiny(heads=SMALL)
    sizes = model_sizes(config)
    model = StudentTeacher.from_config(config)
    assert sizes.student == sum(p.numel() for p in model.student.parameters())
    assert (sizes.width, sizes.depth, sizes.patch_size, sizes.mlp_hidden) == (192, 6, 16, 768)
    assert not sizes.swiglu and model_sizes(SSLConfig.raddino(backbone={"name": "dinov2_vitg14"})).swiglu


def test_block_bytes_match_a_hand_count() -> None:
    sizes = model_sizes(SSLConfig.tiny(heads=SMALL))
    d, h, n = 192, 768, 50
    # fp32: 2 residual inputs + LN1 out, q, k, v, attn out, LS1 in, LN2 out, LS2 in + fc1 out, GELU out; all 4 bytes
    assert block_activation_bytes(n, sizes, 4) == n * 4 * (2 * d + 8 * d + 2 * h)
    # bf16: residual inputs stay fp32; 8 D-wide + 2 H-wide tensors in 2 bytes; 2 extra LN1-output casts (k, v)
    assert block_activation_bytes(n, sizes, 2) == n * (2 * 4 * d + 2 * (8 * d + 2 * h) + 2 * 2 * d)


def test_sharding_arithmetic() -> None:
    config = SSLConfig.raddino(backbone={"name": "dinov2_vitl14"})
    sizes = model_sizes(config)
    crops = {518: 2, 196: 8}
    ddp = estimate_step_memory(config, 8, crops, sharding="ddp", sizes=sizes)
    fsdp = estimate_step_memory(config, 8, crops, sharding="fsdp", world_size=16, sizes=sizes)
    assert ddp.params == 8 * sizes.student and ddp.optimizer == 8 * sizes.student
    assert fsdp.params == ddp.params // 16 and fsdp.optimizer == ddp.optimizer // 16
    assert fsdp.activations == ddp.activations  # activations are per GPU whatever the sharding
    ckpt = estimate_step_memory(config, 8, crops, sharding="fsdp", world_size=16, grad_checkpointing=True, sizes=sizes)
    assert ckpt.activations < fsdp.activations / 4
    small = max_batch_per_gpu(gpu_bytes=40e9, config=config, crop_sizes=crops, sharding="fsdp", world_size=16)
    large = max_batch_per_gpu(gpu_bytes=80e9, config=config, crop_sizes=crops, sharding="fsdp", world_size=16)
    assert 0 < small < large
    with pytest.raises(ValueError, match="valid values"):
        estimate_step_memory(config, 1, crops, sharding="zero")


@pytest.mark.slow
@pytest.mark.parametrize("precision, tolerance", [("fp32", 0.15), ("bf16", 0.3)])
def test_prediction_against_measured_cpu_memory(precision: str, tolerance: float) -> None:
    config = SSLConfig.tiny(heads=SMALL)
    crops = {64: 2, 32: 2}
    measured = measure_step_memory(config, 2, crops, precision=precision)
    predicted = estimate_step_memory(config, 2, crops, precision=precision, sharding="none")
    assert predicted.params == measured["params"]
    assert predicted.optimizer == pytest.approx(measured["optimizer"], rel=1e-4)  # + AdamW's 4-byte step counters
    assert abs(predicted.peak - measured["peak"]) / measured["peak"] < tolerance

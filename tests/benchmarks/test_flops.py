"""FLOP counting (CPU attention included: eager and SDPA count the same) and saved-activation bytes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils import flop_counter

from raddino_monai.benchmarks.flops import count_flops, saved_tensor_bytes, training_state_bytes
from raddino_monai.models import create_backbone


def test_linear_forward_backward_flops_by_hand() -> None:
    lin = torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(2, 8, requires_grad=True)
    # forward 2*B*in*out, backward: grad input and grad weight, each 2*B*in*out
    assert count_flops(lambda: lin(x).sum().backward()) == 3 * 2 * 2 * 8 * 4


def test_cpu_sdpa_is_counted_with_torchs_formula() -> None:
    q = torch.randn(2, 3, 10, 8)
    assert flop_counter.FlopCounterMode  # the plain counter misses the CPU kernel; ours must not
    counted = count_flops(lambda: F.scaled_dot_product_attention(q, q, q))
    assert counted == flop_counter.sdpa_flop_count(q.shape, q.shape, q.shape) == 4 * 2 * 3 * 10 * 10 * 8


def test_eager_and_sdpa_backbones_count_the_same_flops() -> None:
    x = torch.randn(2, 3, 32, 32)
    counts = []
    for impl in ("eager", "sdpa"):
        torch.manual_seed(0)
        backbone = create_backbone("tiny_vit_p16", attn_implementation=impl).eval()
        counts.append(count_flops(lambda b=backbone: b.forward_features(x)))
    assert counts[0] == counts[1] > 0


def test_saved_tensor_bytes_counts_each_storage_once() -> None:
    a = torch.randn(1000, requires_grad=True)
    record: dict[str, int] = {}
    with saved_tensor_bytes(record):
        (a * a).sum()  # saves `a` twice: one storage
    assert record["bytes"] == 4000
    record = {}
    with saved_tensor_bytes(record, exclude=[a]):
        (a * a).sum()
    assert record["bytes"] == 0


def test_training_state_bytes() -> None:
    student, teacher = torch.nn.Linear(10, 10), torch.nn.Linear(10, 10)
    n = 110 * 4
    assert training_state_bytes(student, teacher) == 4 * n + n

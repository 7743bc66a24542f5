"""Side-by-side comparisons: structure, the reference ratio, and the lerp EMA form (close to, not equal to, DV2)."""

from __future__ import annotations

import copy

import torch

from raddino_monai.benchmarks.levers import compare, compare_adamw, compare_ema, foreach_lerp_ema
from raddino_monai.ssl import TeacherEMA


def test_compare_alternates_and_reports_ratios() -> None:
    calls: list[str] = []
    result = compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3)
    assert calls == ["a", "b"] * 4  # warm-up, then alternating
    assert result["ratio"]["a"] == 1.0 and set(result["seconds"]) == {"a", "b"}


def test_phase_comparisons_run_for_tiny() -> None:
    adamw = compare_adamw("tiny", repeats=1)
    assert set(adamw["seconds"]) == {"for-loop", "fused", "foreach"}
    assert set(compare_ema("tiny", repeats=1)["seconds"]) == {"oneoff_mul_add", "cached_mul_add", "cached_lerp"}


def test_lerp_form_is_the_same_ema_to_rounding() -> None:
    student = torch.nn.Linear(50, 40)
    teacher = copy.deepcopy(student)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    reference = copy.deepcopy(teacher)
    TeacherEMA(reference, student)(0.99)
    foreach_lerp_ema(TeacherEMA(teacher, student), 0.99)
    for t, r in zip(teacher.parameters(), reference.parameters()):
        torch.testing.assert_close(t, r, rtol=1e-6, atol=1e-6)

"""build_adamw: the three torch AdamW implementations follow the same trajectory; betas from the config; errors."""

from __future__ import annotations

import pytest
import torch

from raddino_monai.ssl import ADAMW_IMPLEMENTATIONS, OptimConfig, SSLConfig, StudentTeacher, build_adamw


def _trajectory(implementation: str, steps: int = 5) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = StudentTeacher.from_config(SSLConfig.tiny())
    groups = model.param_groups()
    optimizer = build_adamw(groups, model.config.optim, implementation=implementation)
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        for group in optimizer.param_groups:  # what apply_schedule_values does each iteration
            group["lr"] = 1e-3 * (step + 1) * group.get("lr_multiplier", 1.0)
            group["weight_decay"] = 0.04 * group.get("wd_multiplier", 1.0)
        for p in model.student.parameters():
            p.grad = torch.randn(p.shape, generator=gen) * 1e-2
        optimizer.step()
    return [p.detach().clone() for p in model.student.parameters()]


@pytest.mark.parametrize("implementation", ["fused", "foreach"])
def test_implementations_match_the_for_loop_reference(implementation: str) -> None:
    reference = _trajectory("for-loop")
    for ours, ref in zip(_trajectory(implementation), reference):
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_config_choice_betas_and_errors() -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = build_adamw(model.parameters(), OptimConfig(betas=(0.8, 0.99), adamw_impl="fused"))
    assert optimizer.defaults["betas"] == (0.8, 0.99) and optimizer.defaults["fused"] is True
    assert build_adamw(model.parameters(), OptimConfig(adamw_impl="for-loop")).defaults["foreach"] is False
    assert set(ADAMW_IMPLEMENTATIONS) == {"fused", "foreach", "for-loop"}
    with pytest.raises(ValueError, match="valid values"):
        build_adamw(model.parameters(), implementation="apex")
    with pytest.raises(ValueError, match="optim.adamw_impl"):
        SSLConfig.tiny(optim={"adamw_impl": "apex"}).validate()

"""ECAMPPretrainConfig: recipes, section replacement and its errors, the lr schedule against ECAMP's
util/lr_sched.py re-derived here, precision on CPU."""

from __future__ import annotations

import math

import pytest

from raddino_monai.ssl import ECAMP_RECIPES, ECAMPOptimConfig, ECAMPPretrainConfig


def _ecamp_lr(t: float, lr: float, warmup: float, max_epoch: float, min_lr: float = 0.0) -> float:
    """[ECAMP] util/lr_sched.py adjust_learning_rate, with t in epochs."""
    if t < warmup:
        return lr * t / warmup
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * (t - warmup) / (max_epoch - warmup)))


def test_recipes_and_replace() -> None:
    cfg = ECAMPPretrainConfig.from_recipe("ecamp")
    assert cfg == ECAMPPretrainConfig() == ECAMP_RECIPES["ecamp"]()
    assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.weight_decay, cfg.optim.batch_size_per_gpu) == (
        1.5e-4, (0.9, 0.95), 0.05, 256)
    assert (cfg.schedule.epochs, cfg.schedule.warmup_epochs, cfg.schedule.cosine_epochs) == (120, 40, 200)
    assert (cfg.model.mask_ratio, cfg.augment.size, cfg.text.max_length, cfg.seed) == (0.75, 448, 256, 42)
    assert (cfg.loss.mim_weight, cfg.loss.sr_weight, cfg.loss.mlm_weight) == (1.0, 1.0, 1.0)
    tiny = ECAMPPretrainConfig.from_recipe("tiny", optim={"lr": 2e-3}, model={"mask_ratio": 0.5})
    assert tiny.optim.lr == 2e-3 and tiny.optim.batch_size_per_gpu == 4 and tiny.model.mask_ratio == 0.5
    assert tiny.model.input_size == 64 and tiny.augment.size == 128
    with pytest.raises(ValueError, match="valid values"):
        ECAMPPretrainConfig.from_recipe("mrm")
    with pytest.raises(ValueError, match="Unknown ECAMPOptimConfig field"):
        cfg.replace(optim={"learning_rate": 1.0})
    with pytest.raises(ValueError, match="Unknown ECAMPPretrainConfig field"):
        cfg.replace(epochs=3)
    with pytest.raises(ValueError, match="SR target"):
        cfg.replace(augment={"size": 224})
    with pytest.raises(ValueError, match="entity_source"):
        cfg.replace(entity_source="vicuna")


def test_schedule_is_ecamps_lr_sched() -> None:
    ipe = 10
    s = ECAMPPretrainConfig().build_schedules(ipe)
    for it in range(0, 120 * ipe, 7):
        expected = _ecamp_lr(it / ipe, 1.5e-4, 40, 200)
        if it >= 40 * ipe:  # the cosine part is exact
            assert s(it).lr == pytest.approx(expected, rel=1e-12, abs=1e-15)
        else:  # linspace warm-up: peak one iteration earlier than lr * t / warmup
            assert s(it).lr == pytest.approx(1.5e-4 * it / (40 * ipe - 1), rel=1e-12, abs=1e-15)
        assert s(it).weight_decay == 0.05
    assert s(120 * ipe - 1).lr == pytest.approx(0.5 * 1.5e-4, rel=1e-2)  # training stops at half the peak
    with pytest.raises(ValueError, match="iters_per_epoch"):
        ECAMPPretrainConfig().build_schedules(0)


def test_precision() -> None:
    optim = ECAMPOptimConfig()
    assert optim.precision == "fp16" and optim.precision_on("cuda") == "fp16" and optim.precision_on("cpu") == "bf16"
    assert ECAMPOptimConfig(precision="fp32").precision_on("cpu") == "fp32"
    with pytest.raises(ValueError, match="cpu_precision"):
        ECAMPOptimConfig(cpu_precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        ECAMPOptimConfig(precision="fp8")

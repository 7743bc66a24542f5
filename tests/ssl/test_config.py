"""SSLConfig: cited RAD-DINO defaults, validation messages name the field, overrides, schedule building."""

from __future__ import annotations

import inspect
import json
import math

import pytest

from raddino_monai.ssl import config as config_module
from raddino_monai.ssl.config import SSL_RECIPES, MaskingConfig, ScheduleConfig, SSLConfig


def test_raddino_defaults() -> None:
    cfg = SSLConfig.raddino()
    assert cfg.backbone.name == "raddino_vitb14"
    assert (cfg.heads.n_prototypes, cfg.heads.hidden_dim, cfg.heads.bottleneck_dim, cfg.heads.nlayers) == (
        65536, 2048, 256, 3,
    )
    assert (cfg.loss.dino_loss_weight, cfg.loss.ibot_loss_weight, cfg.loss.koleo_loss_weight) == (1.0, 1.0, 0.1)
    assert cfg.optim.base_lr == 1e-3 and cfg.optim.clip_grad == 3.0 and cfg.batch_size_per_gpu == 40
    assert cfg.schedule.total_iters == 100_000


def test_every_default_cites_a_source() -> None:
    source = inspect.getsource(config_module)
    for cls in (config_module.BackboneConfig, config_module.HeadConfig, config_module.LossConfig,
                config_module.OptimConfig, config_module.ScheduleConfig, MaskingConfig):
        for line in inspect.getsource(cls).splitlines():
            is_field = ": " in line and " = " in line and not line.strip().startswith(("def ", "#", '"'))
            if is_field and not line.strip().startswith("overrides:"):  # free-form pass-through, no default value
                assert any(tag in line for tag in ("[DV2]", "[CARD]", "[PAPER", "[HF]", "dinov2 #")), line
    assert "[PAPER, UNVERIFIED]" in source


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"precision": "fp8"}, "precision='fp8'.*valid values"),
        ({"loss": {"centering": "median"}}, "loss.centering.*valid values"),
        ({"loss": {"dino_loss_weight": 0.0, "ibot_loss_weight": 0.0}}, "nothing to train"),
        ({"masking": {"mask_ratio_min_max": (0.6, 0.2)}}, "masking.mask_ratio_min_max"),
        ({"optim": {"lr_scaling_rule": "cubic"}}, "lr_scaling_rule.*valid values"),
        ({"backbone": {"drop_path_rate": 1.5}}, "backbone.drop_path_rate"),
        ({"heads": {"n_prototypes": 0}}, "heads.n_prototypes"),
        ({"loss": {"no_such_field": 1}}, "Unknown loss field"),
        ({"no_such_section": {}}, "Unknown SSLConfig field"),
    ],
)
def test_validation_messages(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        SSLConfig.tiny().replace(**overrides)


def test_dict_sections_and_round_trip() -> None:
    cfg = SSLConfig(heads={"n_prototypes": 128}, loss={"koleo_loss_weight": 0.0})
    assert cfg.heads.n_prototypes == 128 and cfg.heads.hidden_dim == 2048 and cfg.loss.koleo_loss_weight == 0.0
    assert SSLConfig(**json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_schedules_rescaled_and_lr_scaling() -> None:
    cfg = SSLConfig.raddino()
    sched = cfg.build_schedules(global_batch_size=2560)
    peak = 1e-3 * math.sqrt(2560 / 1024)
    assert sched(0).lr == 0.0 and sched(cfg.schedule.warmup_iters).lr == pytest.approx(peak)
    assert sched(0).teacher_temp == 0.04 and sched(30_000).teacher_temp == pytest.approx(0.07)
    assert sched(0).last_layer_lr == 0.0 and sched(0).momentum == 0.992
    short = cfg.build_schedules(global_batch_size=2560, total_iters=1000)
    assert short(125).lr == pytest.approx(peak) and short(300).teacher_temp == pytest.approx(0.07)
    assert ScheduleConfig().rescaled(1000).warmup_teacher_temp_iters == 300


def test_masking_section_and_legacy_loss_keys() -> None:
    cfg = SSLConfig.tiny()
    assert cfg.masking == MaskingConfig() and cfg.to_dict()["masking"]["mask_sample_probability"] == 0.5
    with pytest.warns(DeprecationWarning, match="moved to the masking section"):
        old = cfg.replace(loss={"mask_sample_probability": 0.25, "koleo_loss_weight": 0.0})
    assert old.masking.mask_sample_probability == 0.25 and old.loss.koleo_loss_weight == 0.0
    with pytest.warns(DeprecationWarning, match="moved to the masking section"):
        assert SSLConfig(loss={"mask_ratio_min_max": [0.2, 0.3]}).masking.mask_ratio_min_max == (0.2, 0.3)


def test_named_recipes() -> None:
    from raddino_monai.transforms import MULTICROP_RECIPES

    assert set(SSL_RECIPES) == {"raddino", "dinov2", "tiny"} == set(MULTICROP_RECIPES)  # one recipe key picks both
    assert SSLConfig.from_recipe("raddino") == SSLConfig.raddino() == SSLConfig()
    assert SSLConfig.from_recipe("tiny", heads={"n_prototypes": 64}).heads.n_prototypes == 64
    dv2 = SSLConfig.from_recipe("dinov2")
    assert (dv2.optim.base_lr, dv2.schedule.total_iters, dv2.schedule.warmup_teacher_temp_iters) == (
        0.004, 125_000, 37_500)  # [DV2] ssl_default_config.yaml: base_lr, 100 x 1250, 30 x 1250
    with pytest.raises(ValueError, match=r"Unknown SSL recipe 'ibot'; valid values: \['dinov2', 'raddino', 'tiny'\]"):
        SSLConfig.from_recipe("ibot")


def test_name_lists_derive_from_their_registries() -> None:
    from raddino_monai.losses import CENTERING_REGISTRY

    assert config_module.CENTERINGS == tuple(CENTERING_REGISTRY)
    assert set(config_module.PRECISIONS) == {"fp32", "bf16", "fp16"} and config_module.PRECISIONS["fp32"] is None


def test_building_block_defaults_equal_the_recipe() -> None:
    """The loss and head classes mirror upstream signatures with [DV2] defaults; the recipe passes every value
    explicitly, and this keeps the two equal so that a default can never silently disagree with the recipe."""
    from raddino_monai.losses import DINOClsTokenLoss
    from raddino_monai.models import DINOHead

    cfg = SSLConfig.raddino()

    def defaults(fn: object) -> dict:
        return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}

    loss = defaults(DINOClsTokenLoss.__init__)
    assert (loss["out_dim"], loss["student_temp"], loss["centering"], loss["center_momentum"]) == (
        cfg.heads.n_prototypes, cfg.loss.student_temp, cfg.loss.centering, cfg.loss.center_momentum)
    head = defaults(DINOHead.__init__)
    assert (head["out_dim"], head["hidden_dim"], head["bottleneck_dim"], head["nlayers"]) == (
        cfg.heads.n_prototypes, cfg.heads.hidden_dim, cfg.heads.bottleneck_dim, cfg.heads.nlayers)

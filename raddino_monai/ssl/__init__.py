"""Teacher-student SSL building blocks (DINOv2 / RAD-DINO), each a small pure module.

* :mod:`.masking`: BEiT block-wise iBOT masks and the DINOv2 collate's per-batch mask sampling.
* :mod:`.schedules`: lr / weight decay / teacher momentum / teacher temperature / last-layer lr schedules.
* :mod:`.ema`: teacher EMA update.
* :mod:`.param_groups`: AdamW groups with layer-wise lr decay and :func:`apply_schedule_values`.
* :mod:`.config`: typed pretraining configuration (:class:`SSLConfig`); :mod:`.meta_arch`: :class:`StudentTeacher`.

The losses live in :mod:`raddino_monai.losses`, the DINO head in :mod:`raddino_monai.models.dino_head`.
"""

from __future__ import annotations

from raddino_monai.ssl.config import BackboneConfig, HeadConfig, LossConfig, OptimConfig, ScheduleConfig, SSLConfig
from raddino_monai.ssl.ema import check_same_structure, update_ema
from raddino_monai.ssl.masking import (
    IBOTMasks,
    MaskingGenerator,
    dinov2_max_num_patches,
    masks_weight_from_masks,
    sample_ibot_masks,
)
from raddino_monai.ssl.param_groups import apply_schedule_values, build_param_groups
from raddino_monai.ssl.schedules import (
    SCALING_RULES,
    CosineSchedule,
    FrozenStartSchedule,
    ScheduleValues,
    SSLSchedules,
    teacher_temp_schedule,
)


def __getattr__(name: str) -> object:
    """Import :class:`StudentTeacher` lazily: it pulls in transformers, which the light modules here do not need
    (``raddino_monai.data.collate`` imports :mod:`.masking` inside DataLoader workers)."""
    if name == "StudentTeacher":
        from raddino_monai.ssl.meta_arch import StudentTeacher

        return StudentTeacher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BackboneConfig",
    "HeadConfig",
    "LossConfig",
    "OptimConfig",
    "SSLConfig",
    "ScheduleConfig",
    "StudentTeacher",
    "CosineSchedule",
    "FrozenStartSchedule",
    "IBOTMasks",
    "MaskingGenerator",
    "SCALING_RULES",
    "SSLSchedules",
    "ScheduleValues",
    "apply_schedule_values",
    "build_param_groups",
    "check_same_structure",
    "dinov2_max_num_patches",
    "masks_weight_from_masks",
    "sample_ibot_masks",
    "teacher_temp_schedule",
    "update_ema",
]

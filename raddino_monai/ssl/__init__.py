"""Teacher-student SSL building blocks (DINOv2 / RAD-DINO), each a small pure module.

* :mod:`.config`: typed pretraining configuration (:class:`SSLConfig`, one section per concern).
* :mod:`.schedules`: lr / weight decay / teacher momentum / teacher temperature / last-layer lr schedules.
* :mod:`.ema`: teacher EMA update.
* :mod:`.optim`: the student's AdamW (:func:`build_adamw`, implementation choice).
* :mod:`.param_groups`: AdamW groups with layer-wise lr decay and :func:`apply_schedule_values`.
* :mod:`.meta_arch`: :class:`StudentTeacher`.
* :mod:`.ecamp_config`, :mod:`.ecamp_meta_arch`: ECAMP's recipe (:class:`ECAMPPretrainConfig`, ``ECAMP_RECIPES``) and
  its loss composition (:class:`ECAMPMetaArch`: MIM + SR + MLM).

The losses live in :mod:`raddino_monai.losses`, the DINO head in :mod:`raddino_monai.models.dino_head`, and the
batch assembly (iBOT masking, SSL collate, seeded sampling) in :mod:`raddino_monai.data`.
"""

from __future__ import annotations

from raddino_monai._compat import moved_names
from raddino_monai.ssl.config import (
    PRECISIONS,
    SSL_RECIPES,
    BackboneConfig,
    HeadConfig,
    LossConfig,
    OptimConfig,
    ScheduleConfig,
    SSLConfig,
)
from raddino_monai.ssl.ecamp_config import (
    ECAMP_RECIPES,
    ECAMPLossConfig,
    ECAMPOptimConfig,
    ECAMPPretrainConfig,
    ECAMPScheduleConfig,
)
from raddino_monai.ssl.ecamp_meta_arch import ECAMPMetaArch, ecamp_param_groups
from raddino_monai.ssl.ema import TeacherEMA, check_same_structure, update_ema
from raddino_monai.ssl.meta_arch import StudentTeacher
from raddino_monai.ssl.optim import ADAMW_IMPLEMENTATIONS, build_adamw
from raddino_monai.ssl.param_groups import apply_schedule_values, build_param_groups
from raddino_monai.ssl.schedules import (
    SCALING_RULES,
    CosineSchedule,
    FrozenStartSchedule,
    OptimSchedules,
    OptimScheduleValues,
    ScheduleValues,
    SSLSchedules,
    teacher_temp_schedule,
)

__getattr__ = moved_names(__name__)  # the masking names (MaskingGenerator, sample_ibot_masks, ...) moved to data

__all__ = [
    "ADAMW_IMPLEMENTATIONS",
    "build_adamw",
    "PRECISIONS",
    "SSL_RECIPES",
    "BackboneConfig",
    "HeadConfig",
    "LossConfig",
    "OptimConfig",
    "SSLConfig",
    "ScheduleConfig",
    "StudentTeacher",
    "ECAMP_RECIPES",
    "ECAMPLossConfig",
    "ECAMPOptimConfig",
    "ECAMPPretrainConfig",
    "ECAMPScheduleConfig",
    "ECAMPMetaArch",
    "ecamp_param_groups",
    "TeacherEMA",
    "CosineSchedule",
    "FrozenStartSchedule",
    "OptimSchedules",
    "OptimScheduleValues",
    "SCALING_RULES",
    "SSLSchedules",
    "ScheduleValues",
    "apply_schedule_values",
    "build_param_groups",
    "check_same_structure",
    "teacher_temp_schedule",
    "update_ema",
]

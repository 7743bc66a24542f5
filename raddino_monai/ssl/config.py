"""Typed configuration of RAD-DINO teacher-student pretraining (nanoGPT-style dataclasses, one reason per field).

Every default cites its source: [DV2] facebookresearch/dinov2 ``ssl_default_config.yaml`` / code, [CARD] the
RAD-DINO model card, [PAPER] arXiv 2401.10815 (values marked UNVERIFIED were read in the paper text but not yet
checked against ``vitb14_cxr.yaml``), [HF] microsoft/rad-dino config files. Schedules are counted in optimizer
iterations (DINOv2 counts "epochs" of ``OFFICIAL_EPOCH_LENGTH = 1250`` iterations [DV2]; we store the product).

These dataclasses are the single source of every pretraining default: the bundle (``bundles/raddino``) and the
tools override only what differs, by recipe name and field. Named recipes (:data:`SSL_RECIPES`, also
:meth:`SSLConfig.from_recipe`): ``"raddino"`` (the paper's ViT-B/14 continual pretraining), ``"dinov2"`` (DINOv2's
own defaults, for comparison) and ``"tiny"`` (CPU smoke runs). Deviations from DINOv2 are explicit fields
(``precision``, ``min_batch_for_koleo``, ``schedule.warmup_teacher_temp_iters``).

Where the sources disagree, the recipe follows RAD-DINO and says so: base lr 1e-3 ([PAPER], against [DV2]'s 0.004
"for batch 1024", which is the ``"dinov2"`` recipe), and a teacher-temperature warm-up of 30 % of the run (30,000 of
[CARD]'s 100,000 iterations, against [DV2]'s 30 epochs = 37,500, which would outlast the released 35k checkpoint).

Example::

    >>> cfg = SSLConfig.raddino()
    >>> cfg.optim.base_lr, cfg.heads.n_prototypes
    (0.001, 65536)
    >>> SSLConfig.tiny().replace(loss={"ibot_loss_weight": 0.0}).loss.ibot_loss_weight
    0.0
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from raddino_monai.data.masking import MaskingConfig
from raddino_monai.losses.centering import CENTERING_REGISTRY
from raddino_monai.ssl.schedules import SCALING_RULES, SSLSchedules
from raddino_monai.transforms.config_fields import replace_fields

__all__ = [
    "BackboneConfig",
    "HeadConfig",
    "LossConfig",
    "MaskingConfig",
    "OptimConfig",
    "ScheduleConfig",
    "SSLConfig",
    "SSL_RECIPES",
    "PRECISIONS",
    "CENTERINGS",
    "ADAMW_IMPLEMENTATIONS",
]

#: ``precision`` -> autocast dtype of the training step (``None``: no autocast); the trainer reads the same table
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: valid ``loss.centering`` names, from the losses' registry ([DV2] ``train.centering``)
CENTERINGS: tuple[str, ...] = tuple(CENTERING_REGISTRY)
#: valid ``optim.adamw_impl`` names (:func:`raddino_monai.ssl.optim.build_adamw`)
ADAMW_IMPLEMENTATIONS: tuple[str, ...] = ("fused", "foreach", "for-loop")


def _check_choice(name: str, value: str, valid: Any) -> None:
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; valid values are {list(valid)}.")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}={value!r} must lie in [{low}, {high}].")


@dataclass
class BackboneConfig:
    """Student/teacher backbone (a named architecture from ``raddino_monai.models``)."""

    name: str = "raddino_vitb14"  # ViT-B/14, 768 wide, 12 blocks, positions for 518 px [HF] config.json
    weights: str | None = None  # DINOv2 .pth / RAD-DINO safetensors / HF folder; None = random init [CARD] init
    drop_path_rate: float = 0.3  # student stochastic depth, uniform over blocks [DV2] (RAD-DINO value UNVERIFIED)
    grad_checkpointing: bool = False  # trade compute for memory on 518 px ViT-B; off in [DV2] (no such option)
    overrides: dict[str, Any] = field(default_factory=dict)  # extra BackboneSpec fields, e.g. {"image_size": 224}

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value is out of range."""
        _check_range("backbone.drop_path_rate", self.drop_path_rate, 0.0, 1.0)


@dataclass
class HeadConfig:
    """DINO / iBOT projection heads (DINOv2 ``layers/dino_head.py`` maths)."""

    n_prototypes: int = 65536  # dino.head_n_prototypes [DV2]; RAD-DINO's released head has 65536 [CARD]
    hidden_dim: int = 2048  # dino.head_hidden_dim [DV2] == [CARD] DINOHead(hidden_dim=2048)
    bottleneck_dim: int = 256  # dino.head_bottleneck_dim [DV2] == [CARD] DINOHead(bottleneck_dim=256)
    nlayers: int = 3  # dino.head_nlayers [DV2] == [CARD]
    ibot_separate_head: bool = False  # ibot.separate_head [DV2]; RAD-DINO released only one head [CARD] (UNVERIFIED)
    weights: str | None = None  # dino_head.safetensors to start both heads from (RAD-DINO continual) [CARD]

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value is out of range."""
        for name in ("n_prototypes", "hidden_dim", "bottleneck_dim", "nlayers"):
            if getattr(self, name) < 1:
                raise ValueError(f"heads.{name} must be >= 1, found {getattr(self, name)}.")


@dataclass
class LossConfig:
    """Loss terms; a loss is built only when its weight is > 0 (as DINOv2 ``do_dino``/``do_ibot``/``do_koleo``)."""

    dino_loss_weight: float = 1.0  # dino.loss_weight [DV2]
    ibot_loss_weight: float = 1.0  # ibot.loss_weight [DV2]
    koleo_loss_weight: float = 0.1  # dino.koleo_loss_weight [DV2]
    student_temp: float = 0.1  # student softmax temperature in both CE losses [DV2] dino_clstoken_loss.py
    centering: str = "centering"  # train.centering [DV2] ("sinkhorn_knopp" is DINOv2's ViT-L/g choice)
    center_momentum: float = 0.9  # centre EMA momentum [DV2] dino_clstoken_loss.py
    min_batch_for_koleo: int = 2  # KoLeo needs a nearest neighbour; smaller per-GPU batches give inf (dinov2 #314)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value is out of range."""
        for name in ("dino_loss_weight", "ibot_loss_weight", "koleo_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name} must be >= 0, found {getattr(self, name)}.")
        if self.dino_loss_weight == 0 and self.ibot_loss_weight == 0:
            raise ValueError("loss.dino_loss_weight and loss.ibot_loss_weight are both 0: nothing to train.")
        _check_choice("loss.centering", self.centering, CENTERINGS)
        _check_range("loss.center_momentum", self.center_momentum, 0.0, 1.0)


@dataclass
class OptimConfig:
    """AdamW with layer-wise lr decay, DINOv2 parameter groups and per-submodule clipping."""

    base_lr: float = 1e-3  # RAD-DINO [PAPER, UNVERIFIED]; [DV2] optim.base_lr 4e-3 "for batch 1024" is dinov2()
    lr_scaling_rule: str = "sqrt_wrt_1024"  # lr = base_lr * sqrt(global_batch / 1024) [DV2]; or "none"
    min_lr: float = 1e-6  # cosine floor [DV2] optim.min_lr
    weight_decay: float = 0.04  # start of the cosine wd schedule [DV2] optim.weight_decay
    weight_decay_end: float = 0.4  # end of the cosine wd schedule [DV2] optim.weight_decay_end (ViT-S/B)
    layerwise_decay: float = 0.9  # lr multiplier decay^(L+1-layer_id) [DV2] optim.layerwise_decay (ViT-S/B)
    patch_embed_lr_mult: float = 0.2  # extra multiplier on the patch embedding [DV2] optim.patch_embed_lr_mult
    betas: tuple[float, float] = (0.9, 0.999)  # adamw_beta1/2 [DV2]
    clip_grad: float = 3.0  # max grad norm per student submodule [DV2] optim.clip_grad (0 disables)
    adamw_impl: str = "fused"  # torch kernel, same maths; [DV2] uses torch's default; fused: docs/performance.md

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value is out of range."""
        _check_choice("optim.lr_scaling_rule", self.lr_scaling_rule, tuple(sorted(SCALING_RULES)))
        if self.base_lr <= 0 or self.min_lr < 0:
            raise ValueError(f"optim.base_lr must be > 0 and optim.min_lr >= 0, found {self.base_lr}, {self.min_lr}.")
        _check_range("optim.layerwise_decay", self.layerwise_decay, 0.0, 1.0)
        if self.clip_grad < 0:
            raise ValueError(f"optim.clip_grad must be >= 0 (0 disables clipping), found {self.clip_grad}.")
        _check_choice("optim.adamw_impl", self.adamw_impl, ADAMW_IMPLEMENTATIONS)


@dataclass
class ScheduleConfig:
    """Per-iteration schedules (DINOv2 ``CosineScheduler``), lengths in optimizer iterations."""

    total_iters: int = 100_000  # RAD-DINO run length [CARD] ("iteration 35,000 of a 100,000-iteration run")
    warmup_iters: int = 12_500  # linear lr warmup: optim.warmup_epochs 10 x 1250 [DV2] (RAD-DINO UNVERIFIED)
    freeze_last_layer_iters: int = 1_250  # last-layer lr = 0 for optim.freeze_last_layer_epochs 1 x 1250 [DV2]
    momentum_teacher: float = 0.992  # EMA momentum start [DV2] teacher.momentum_teacher
    final_momentum_teacher: float = 1.0  # EMA momentum end (cosine) [DV2] teacher.final_momentum_teacher
    warmup_teacher_temp: float = 0.04  # teacher temperature at iteration 0 [DV2]
    teacher_temp: float = 0.07  # teacher temperature after warmup [DV2]
    # [DV2] warms the temperature over 30 x 1250 = 37,500 iterations, longer than the released 35k checkpoint
    # [CARD]; we warm over 30 % of the run (30,000 of 100,000) so the released-checkpoint point is past warmup.
    warmup_teacher_temp_iters: int = 30_000  # 30 % of [CARD]'s run instead of [DV2]'s 37,500 (see above)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value is out of range."""
        if self.total_iters < 1:
            raise ValueError(f"schedule.total_iters must be >= 1, found {self.total_iters}.")
        for name in ("warmup_iters", "freeze_last_layer_iters", "warmup_teacher_temp_iters"):
            if getattr(self, name) < 0:
                raise ValueError(f"schedule.{name} must be >= 0, found {getattr(self, name)}.")
        _check_range("schedule.momentum_teacher", self.momentum_teacher, 0.0, 1.0)
        _check_range("schedule.final_momentum_teacher", self.final_momentum_teacher, 0.0, 1.0)
        if self.warmup_teacher_temp <= 0 or self.teacher_temp <= 0:
            raise ValueError("schedule.warmup_teacher_temp and schedule.teacher_temp must be > 0.")

    def rescaled(self, total_iters: int) -> ScheduleConfig:
        """The same schedule shape for a run of ``total_iters`` iterations (all phases scaled proportionally).

        Args:
            total_iters: new run length.

        Returns:
            a new :class:`ScheduleConfig` (warmups rounded, at least 0).
        """
        ratio = total_iters / self.total_iters
        return dataclasses.replace(
            self,
            total_iters=total_iters,
            warmup_iters=round(self.warmup_iters * ratio),
            freeze_last_layer_iters=round(self.freeze_last_layer_iters * ratio),
            warmup_teacher_temp_iters=round(self.warmup_teacher_temp_iters * ratio),
        )


def _split_legacy_masking(loss: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Move the pre-0.2 ``loss.mask_*`` keys to the ``masking`` section (with a ``DeprecationWarning``)."""
    moved = {k: loss[k] for k in ("mask_sample_probability", "mask_ratio_min_max") if k in loss}
    if moved:
        warnings.warn(f"SSLConfig loss.{sorted(moved)} moved to the masking section (masking={moved}).",
                      DeprecationWarning, stacklevel=4)
    return {k: v for k, v in loss.items() if k not in moved}, moved


_SECTIONS: dict[str, type] = {
    "backbone": BackboneConfig,
    "heads": HeadConfig,
    "loss": LossConfig,
    "masking": MaskingConfig,
    "optim": OptimConfig,
    "schedule": ScheduleConfig,
}


@dataclass
class SSLConfig:
    """Complete teacher-student pretraining configuration.

    Crop geometry lives in ``raddino_monai.transforms.multicrop.MultiCropConfig`` (data side); this config holds
    the model and optimisation side and, in ``masking``, the iBOT masks that the SSL collate draws.
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    heads: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)  # iBOT masks drawn by the SSL collate (data side)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    batch_size_per_gpu: int = 40  # 40 images per A100-80GB [CARD] (16 nodes x 4 GPUs -> global 2560)
    # bf16 autocast by default: [CARD] used fp16 FSDP, but fp16 causes NaN reports (DINO #58) and CPU AMX is
    # 2-3x faster in bf16; "fp16" (with GradScaler, CUDA only) reproduces the card, "fp32" disables autocast.
    precision: str = "bf16"

    def __post_init__(self) -> None:
        if isinstance(self.loss, dict):
            self.loss, masking = _split_legacy_masking(self.loss)
            if masking:
                current = self.masking if isinstance(self.masking, MaskingConfig) else MaskingConfig(**self.masking)
                self.masking = dataclasses.replace(current, **masking)
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, cls(**value))
        self.validate()

    def validate(self) -> None:
        """Check every section.

        Raises:
            ValueError: naming the offending field, the expected range and the value found.
        """
        for name in _SECTIONS:
            getattr(self, name).validate()
        _check_choice("precision", self.precision, PRECISIONS)
        if self.batch_size_per_gpu < 1:
            raise ValueError(f"batch_size_per_gpu must be >= 1, found {self.batch_size_per_gpu}.")

    def replace(self, **sections: Any) -> SSLConfig:
        """Copy with some fields changed; section values may be dicts of field updates.

        Example::

            >>> SSLConfig.tiny().replace(optim={"base_lr": 5e-4}, precision="fp32").optim.base_lr
            0.0005

        Raises:
            ValueError: unknown section or field (the message lists the valid names).
        """
        valid = {f.name for f in dataclasses.fields(self)}
        if isinstance(sections.get("loss"), dict):
            sections["loss"], masking = _split_legacy_masking(sections["loss"])
            if masking:
                sections["masking"] = {**masking, **dict(sections.get("masking") or {})}
        updates: dict[str, Any] = {}
        for key, value in sections.items():
            if key not in valid:
                raise ValueError(f"Unknown SSLConfig field {key!r}; valid fields are {sorted(valid)}.")
            if key in _SECTIONS and isinstance(value, dict):
                value = replace_fields(getattr(self, key), value, name=key)
            updates[key] = value
        return dataclasses.replace(self, **updates)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-serialisable), e.g. to save next to a run's outputs."""
        return dataclasses.asdict(self)

    def build_schedules(self, global_batch_size: int, total_iters: int | None = None) -> SSLSchedules:
        """Per-iteration lr / wd / EMA momentum / teacher temperature / last-layer lr ([DV2] ``CosineScheduler``).

        Args:
            global_batch_size: images per optimizer step over all ranks (for ``optim.lr_scaling_rule``).
            total_iters: run length; when given and different from ``schedule.total_iters`` every phase is rescaled
                proportionally (:meth:`ScheduleConfig.rescaled`).

        Returns:
            :class:`~raddino_monai.ssl.schedules.SSLSchedules`, called as ``schedules(it)``.

        Example::

            >>> SSLConfig.tiny(total_iters=10).build_schedules(16)(0).teacher_temp
            0.04
        """
        sched = self.schedule if total_iters is None else self.schedule.rescaled(total_iters)
        return SSLSchedules.from_iters(
            total_iters=sched.total_iters,
            peak_lr=SCALING_RULES[self.optim.lr_scaling_rule](self.optim.base_lr, global_batch_size),
            min_lr=self.optim.min_lr,
            warmup_iters=sched.warmup_iters,
            weight_decay=self.optim.weight_decay,
            weight_decay_end=self.optim.weight_decay_end,
            momentum_teacher=sched.momentum_teacher,
            final_momentum_teacher=sched.final_momentum_teacher,
            warmup_teacher_temp=sched.warmup_teacher_temp,
            teacher_temp=sched.teacher_temp,
            warmup_teacher_temp_iters=sched.warmup_teacher_temp_iters,
            freeze_last_layer_iters=sched.freeze_last_layer_iters,
        )

    @classmethod
    def from_recipe(cls, name: str = "raddino", **sections: Any) -> SSLConfig:
        """A named recipe of :data:`SSL_RECIPES` with overrides as in :meth:`replace` (the bundle's ``recipe``).

        Raises:
            ValueError: unknown recipe (the valid names are listed), section or field.
        """
        if name not in SSL_RECIPES:
            raise ValueError(f"Unknown SSL recipe {name!r}; valid values: {sorted(SSL_RECIPES)}.")
        return SSL_RECIPES[name]().replace(**sections)

    @classmethod
    def raddino(cls, **sections: Any) -> SSLConfig:
        """RAD-DINO continual pretraining of ViT-B/14 at 518 px (crops: ``MultiCropConfig.raddino()``).

        Args:
            sections: overrides as in :meth:`replace`, e.g. ``backbone={"weights": "dinov2_vitb14.pth"}``.
        """
        return cls().replace(**sections)

    @classmethod
    def dinov2(cls, **sections: Any) -> SSLConfig:
        """DINOv2's own defaults on ViT-B/14 ([DV2] ``ssl_default_config.yaml``, epochs x 1250 iterations), for
        comparison with :meth:`raddino` (crops: ``MultiCropConfig.dinov2()``); precision stays bf16 (field note).

        Args:
            sections: overrides as in :meth:`replace`.
        """
        base = cls(
            backbone=BackboneConfig(name="dinov2_vitb14"),  # [DV2] eval/vitb14_pretrain.yaml (no vitb14 train config)
            optim=OptimConfig(base_lr=4e-3),  # [DV2] optim.base_lr 0.004 "for a batch size of 1024"
            schedule=ScheduleConfig(
                total_iters=125_000,  # [DV2] optim.epochs 100 x OFFICIAL_EPOCH_LENGTH 1250
                warmup_teacher_temp_iters=37_500,  # [DV2] teacher.warmup_teacher_temp_epochs 30 x 1250
            ),
            batch_size_per_gpu=64,  # [DV2] train.batch_size_per_gpu
        )
        return base.replace(**sections)

    @classmethod
    def tiny(cls, total_iters: int = 20, **sections: Any) -> SSLConfig:
        """Tiny ViT from scratch for CPU smoke runs, tests and ``tools/ssl_evidence.py``: small heads, schedules
        scaled to ``total_iters``. Tuned on 384 CXRs at batch 16 (``docs/ssl_evidence.md``); deviations from DINOv2
        are commented below.

        Args:
            total_iters: run length the schedules are rescaled to.
            sections: overrides as in :meth:`replace`.
        """
        base = cls(
            backbone=BackboneConfig(name="tiny_vit_p16", drop_path_rate=0.1),  # LayerScale 1.0: see registry
            # 256 prototypes for a few hundred images and batches of 16: with 1024 the targets stay near-uniform
            heads=HeadConfig(n_prototypes=256, hidden_dim=256, bottleneck_dim=64),
            optim=OptimConfig(base_lr=1e-3, lr_scaling_rule="none"),
            # constant teacher temperature 0.04 (DINO v1 main_dino.py defaults warmup_teacher_temp = teacher_temp =
            # 0.04): warming to 0.07 flattened the teacher of short CPU runs to the uniform distribution
            schedule=ScheduleConfig(teacher_temp=0.04).rescaled(total_iters),
            batch_size_per_gpu=8,
        )
        return base.replace(**sections)


#: recipe name -> :class:`SSLConfig` factory (the names match ``raddino_monai.transforms.MULTICROP_RECIPES``)
SSL_RECIPES: dict[str, Callable[[], SSLConfig]] = {
    "raddino": SSLConfig.raddino,
    "dinov2": SSLConfig.dinov2,
    "tiny": SSLConfig.tiny,
}

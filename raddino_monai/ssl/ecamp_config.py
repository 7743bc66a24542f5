"""ECAMP pretraining configuration: one dataclass per concern, every default with its source, named recipes.

``[ECAMP]`` = ToniChopp/ECAMP @ d02d16d ``ECAMP/Pre-training/`` (``run.sh``, ``main_pretrain.py``,
``util/lr_sched.py``, ``module/pretrain_datasets.py``); ``[PAPER]`` = Wang et al., arXiv 2312.13316.

* :class:`ECAMPLossConfig`: the loss weights and reductions (the composition is
  :class:`~raddino_monai.ssl.ecamp_meta_arch.ECAMPMetaArch`);
* :class:`ECAMPOptimConfig`: AdamW, batch, weight-decay groups, clipping, precision;
* :class:`ECAMPScheduleConfig`: epochs, warm-up and the half-cycle cosine's length;
* :class:`ECAMPPretrainConfig`: the sections above plus the network (:class:`~raddino_monai.models.ECAMPConfig`),
  the text side (:class:`~raddino_monai.transforms.EntityMLMConfig`, the entity-context probability), the image
  augmentations (:class:`~raddino_monai.transforms.ECAMPAugmentConfig`) and the encoders.

:data:`ECAMP_RECIPES`: ``"ecamp"`` (the released recipe) and ``"tiny"`` (CPU smoke runs and tests).

Example::

    >>> cfg = ECAMPPretrainConfig.from_recipe("tiny", optim={"lr": 1e-3})
    >>> cfg.optim.lr, cfg.model.mask_ratio
    (0.001, 0.75)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raddino_monai.models.ecamp.model import ECAMPConfig
from raddino_monai.ssl.config import PRECISIONS
from raddino_monai.ssl.schedules import CosineSchedule, OptimSchedules
from raddino_monai.transforms.config_fields import replace_fields
from raddino_monai.transforms.ecamp_augment import ECAMPAugmentConfig
from raddino_monai.transforms.entity_mlm import EntityMLMConfig

__all__ = [
    "ECAMPLossConfig",
    "ECAMPOptimConfig",
    "ECAMPScheduleConfig",
    "ECAMPPretrainConfig",
    "ECAMP_RECIPES",
    "ENTITY_SOURCES",
]

#: where the entity sentence comes from when an item has no ``entity_context``: the rule-based CheXpert labeler
#: (``raddino_monai.evaluation.report``; deviation 1 of docs/ecamp.md) or the keyword matcher of the transforms
ENTITY_SOURCES: tuple[str, ...] = ("chexpert_labeler", "keywords")


@dataclass(frozen=True)
class ECAMPLossConfig:
    """Weights and reductions of the three ECAMP losses.

    Args:
        mim_weight: MIM weight ([ECAMP] ``main_pretrain.py`` line 147, ``loss = mim_loss + res_loss + mlm_loss``: 1).
        sr_weight: SR weight (same line: 1).
        mlm_weight: MLM weight (same line: 1).
        mim_normalize_by: ``"all_patches"`` ([ECAMP] ``model_ecamp.py`` 288-298: ``F.mse_loss`` over the
            pixel-masked image) or ``"masked_patches"`` (MAE).
        sr_normalize_by: ``"all_pixels"`` ([ECAMP] ``model_ecamp.py`` 291-299) or ``"region"``.
        mlm_normalize_by: ``"all_tokens"`` ([ECAMP] ``bert_modeling.py`` line 217: ``.mean()`` over B·T) or
            ``"labelled_weight"``.
    """

    mim_weight: float = 1.0
    sr_weight: float = 1.0
    mlm_weight: float = 1.0
    mim_normalize_by: str = "all_patches"
    sr_normalize_by: str = "all_pixels"
    mlm_normalize_by: str = "all_tokens"


@dataclass(frozen=True)
class ECAMPOptimConfig:
    """Optimiser and step settings.

    Args:
        lr: peak learning rate, absolute ([ECAMP] ``run.sh --lr 1.5e-4``; ``main_pretrain.py`` 77: "absolute lr").
        min_lr: floor of the cosine ([ECAMP] ``main_pretrain.py`` line 79 default 0).
        betas: AdamW betas ([ECAMP] ``main_pretrain.py`` line 254: (0.9, 0.95)).
        weight_decay: AdamW weight decay ([ECAMP] ``run.sh --weight_decay 0.05``), none on biases and 1-D
            parameters ([ECAMP] ``main_pretrain.py`` 253: timm ``optim_factory.add_weight_decay``).
        batch_size_per_gpu: items per device batch ([ECAMP] ``run.sh --batch_size 256``; 4 GPUs x accumulation 8
            make 8192 per optimiser step there: this trainer steps every batch, deviation in docs/ecamp.md).
        clip_grad: gradient clipping, 0 = none ([ECAMP] ``main_pretrain.py`` 149: ``loss_scaler(...)`` without
            ``clip_grad``).
        precision: ``"fp16"`` ([ECAMP] ``main_pretrain.py`` 139: ``torch.cuda.amp.autocast`` + ``NativeScaler``).
        cpu_precision: what ``precision="fp16"`` becomes on a device without CUDA (fp16 needs a GradScaler on CUDA):
            ``"bf16"`` autocast, as RAD-DINO trains (:meth:`precision_on`).
    """

    lr: float = 1.5e-4
    min_lr: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05
    batch_size_per_gpu: int = 256
    clip_grad: float = 0.0
    precision: str = "fp16"
    cpu_precision: str = "bf16"

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        problems = []
        for name in ("precision", "cpu_precision"):
            if getattr(self, name) not in PRECISIONS:
                problems.append(f"{name} must be one of {sorted(PRECISIONS)}, found {getattr(self, name)!r}")
        if self.cpu_precision == "fp16":
            problems.append("cpu_precision cannot be 'fp16' (needs CUDA)")
        if self.batch_size_per_gpu < 1 or self.lr <= 0 or self.clip_grad < 0:
            problems.append(f"need batch_size_per_gpu >= 1, lr > 0, clip_grad >= 0; found {self.batch_size_per_gpu}, "
                            f"{self.lr}, {self.clip_grad}")
        if problems:
            raise ValueError("Invalid ECAMPOptimConfig: " + "; ".join(problems) + ".")

    def precision_on(self, device_type: str) -> str:
        """The precision used on a device of type ``device_type`` (``"cuda"``, ``"cpu"``, ...)."""
        return self.cpu_precision if self.precision == "fp16" and device_type != "cuda" else self.precision


@dataclass(frozen=True)
class ECAMPScheduleConfig:
    """Run length and learning-rate schedule, in epochs (converted with the loader's length).

    Args:
        epochs: training epochs ([ECAMP] ``run.sh --epochs 120``).
        warmup_epochs: linear warm-up from 0 ([ECAMP] ``run.sh --warmup_epochs 40``; ``util/lr_sched.py``).
        cosine_epochs: length of the half-cycle cosine incl. warm-up ([ECAMP] ``main_pretrain.py`` line 55
            ``--max_epoch`` default 200, not set by ``run.sh``): training stops at epoch 120, where the lr is half
            the peak. Values are per iteration ([ECAMP] line 138: ``data_iter_step / len(data_loader) + epoch``).
    """

    epochs: int = 120
    warmup_epochs: int = 40
    cosine_epochs: int = 200

    def __post_init__(self) -> None:
        if not (self.epochs >= 1 and 0 <= self.warmup_epochs <= self.cosine_epochs and self.cosine_epochs >= 1):
            raise ValueError(f"need epochs >= 1 and 0 <= warmup_epochs <= cosine_epochs; found {self}.")


@dataclass(frozen=True)
class ECAMPPretrainConfig:
    """The whole ECAMP pretraining recipe (sections as dataclasses; mappings accepted in :meth:`replace`).

    Args:
        backbone: registry name of the image encoder ([ECAMP] ``model_ecamp.py`` ``ecamp()``: ViT-B/16 =
            ``"mae_vitb16"``).
        backbone_weights: local encoder weights ([ECAMP] ``run.sh --resume ./dataset/mae_vit_base.pth``: MAE
            ViT-B/16; nothing is downloaded, ``None`` = random init).
        text_model: local BERT folder for the report decoder; ``None`` = a new random BERT of ``bert`` size
            ([ECAMP] ``bert_encoder.py`` line 16 builds it from ``bert_config.py``).
        bert: ``BertConfig`` overrides of the new BERT ([ECAMP] ``bert_config.py`` via
            :func:`~raddino_monai.models.ecamp.report_decoder.ecamp_bert_config`: empty = ECAMP's sizes).
        tokenizer_vocab_size: WordPiece vocabulary of a tokenizer built from the training reports when none is
            given ([ECAMP] ``mimic_wordpiece.json``: 30000).
        entity_context_prob: probability of inserting the entity sentence ([ECAMP] ``pretrain_datasets.py``
            line 121: 0.8).
        entity_source: sentence source when an item has no ``entity_context`` (:data:`ENTITY_SOURCES`):
            ``"chexpert_labeler"`` (the project's rule labeler; ECAMP's Vicuna sentences cannot be made offline).
        seed: base seed ([ECAMP] ``main_pretrain.py`` line 93: 42, plus the rank at 189; here the data order and
            every item's draws derive from it).
        model, loss, optim, schedule, text, augment: the sections.
    """

    backbone: str = "mae_vitb16"
    backbone_weights: str | None = None
    text_model: str | None = None
    bert: Mapping[str, Any] = field(default_factory=dict)
    tokenizer_vocab_size: int = 30000
    entity_context_prob: float = 0.8
    entity_source: str = "chexpert_labeler"
    seed: int = 42
    model: ECAMPConfig = field(default_factory=ECAMPConfig)
    loss: ECAMPLossConfig = field(default_factory=ECAMPLossConfig)
    optim: ECAMPOptimConfig = field(default_factory=ECAMPOptimConfig)
    schedule: ECAMPScheduleConfig = field(default_factory=ECAMPScheduleConfig)
    text: EntityMLMConfig = field(default_factory=EntityMLMConfig)
    augment: ECAMPAugmentConfig = field(default_factory=ECAMPAugmentConfig)

    def __post_init__(self) -> None:
        problems = []
        if self.entity_source not in ENTITY_SOURCES:
            problems.append(f"entity_source must be one of {list(ENTITY_SOURCES)}, found {self.entity_source!r}")
        if not 0.0 <= self.entity_context_prob <= 1.0:
            problems.append(f"entity_context_prob must be in [0, 1], found {self.entity_context_prob}")
        target = self.model.sr_scale * self.model.input_size
        if self.augment.size != target:
            problems.append(f"augment.size ({self.augment.size}) must be the SR target sr_scale * input_size "
                            f"({target}): the crop is the 448 px image of ECAMP")
        if self.text.max_length > int(self.bert.get("max_position_embeddings", 256)) and self.text_model is None:
            problems.append(f"text.max_length {self.text.max_length} exceeds the new BERT's max_position_embeddings")
        if problems:
            raise ValueError("Invalid ECAMPPretrainConfig: " + "; ".join(problems) + ".")

    _SECTIONS = {"model": ECAMPConfig, "loss": ECAMPLossConfig, "optim": ECAMPOptimConfig,
                 "schedule": ECAMPScheduleConfig, "text": EntityMLMConfig, "augment": ECAMPAugmentConfig}

    def replace(self, **changes: Any) -> ECAMPPretrainConfig:
        """A copy with fields replaced; a section may be given as a mapping of its fields (bundle JSON).

        Raises:
            ValueError: an unknown field or section field (the valid names are listed).
        """
        sections = {name: replace_fields(getattr(self, name), value) if name in self._SECTIONS
                    and isinstance(value, Mapping) else value for name, value in changes.items()}
        return replace_fields(self, sections)

    def total_iters(self, iters_per_epoch: int) -> int:
        """Iterations of the run: ``schedule.epochs * iters_per_epoch``."""
        return self.schedule.epochs * int(iters_per_epoch)

    def build_schedules(self, iters_per_epoch: int) -> OptimSchedules:
        """Per-iteration lr and weight decay ([ECAMP] ``util/lr_sched.py``): linear warm-up from 0 over
        ``warmup_epochs``, then a half-cycle cosine to ``min_lr`` that would end at ``cosine_epochs``; constant weight
        decay (its groups' ``wd_multiplier`` takes it off 1-D parameters).

        Args:
            iters_per_epoch: optimiser steps per epoch (the loader's length).

        Raises:
            ValueError: ``iters_per_epoch < 1``.

        Example:
            >>> s = ECAMPPretrainConfig().build_schedules(10)
            >>> round(s(0).lr, 12), round(s(400).lr, 12), round(s(1199).lr / 1.5e-4, 3)
            (0.0, 0.00015, 0.501)
        """
        if iters_per_epoch < 1:
            raise ValueError(f"iters_per_epoch must be >= 1, found {iters_per_epoch} (an empty loader?).")
        sched, optim = self.schedule, self.optim
        length = sched.cosine_epochs * iters_per_epoch
        warmup = sched.warmup_epochs * iters_per_epoch
        # the cosine part is ECAMP's exactly; the linspace warm-up (0 -> peak over warmup iterations, ends included)
        # reaches the peak one iteration before ECAMP's lr * t / warmup does
        lr = CosineSchedule(optim.lr, optim.min_lr, length, warmup_iters=warmup)
        return OptimSchedules(lr, CosineSchedule(optim.weight_decay, optim.weight_decay, length))

    @classmethod
    def from_recipe(cls, name: str = "ecamp", **changes: Any) -> ECAMPPretrainConfig:
        """A named recipe of :data:`ECAMP_RECIPES` with :meth:`replace` changes (the bundle's ``recipe``).

        Raises:
            ValueError: unknown recipe (valid names listed) or field.
        """
        if name not in ECAMP_RECIPES:
            raise ValueError(f"Unknown ECAMP recipe {name!r}; valid values: {sorted(ECAMP_RECIPES)}.")
        return ECAMP_RECIPES[name]().replace(**changes)

    @classmethod
    def ecamp(cls, **changes: Any) -> ECAMPPretrainConfig:
        """ECAMP's released recipe ([ECAMP] ``run.sh`` + code defaults, cited per field)."""
        return cls().replace(**changes)

    @classmethod
    def tiny(cls, **changes: Any) -> ECAMPPretrainConfig:
        """A CPU smoke recipe: ViT 192 wide / 2 blocks at 64 px (128 px SR target), a 1-layer 32-wide BERT, a
        small vocabulary, lr 1e-3 for short runs, fp32, 2 epochs with no warm-up. Everything else is ECAMP's."""
        base = cls(
            backbone="tiny_vit_p16",
            bert={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
                  "max_position_embeddings": 64},
            tokenizer_vocab_size=400,
            model=ECAMPConfig(input_size=64, decoder_dim=32, decoder_depth=1, decoder_heads=2),
            optim=ECAMPOptimConfig(lr=1e-3, batch_size_per_gpu=4, precision="fp32"),
            schedule=ECAMPScheduleConfig(epochs=2, warmup_epochs=0, cosine_epochs=2),
            text=EntityMLMConfig(max_length=64),
            augment=ECAMPAugmentConfig(size=128),
        )
        return base.replace(**changes)


#: recipe name -> factory (the bundle's ``"recipe"``)
ECAMP_RECIPES: dict[str, Callable[[], ECAMPPretrainConfig]] = {
    "ecamp": ECAMPPretrainConfig.ecamp,
    "tiny": ECAMPPretrainConfig.tiny,
}

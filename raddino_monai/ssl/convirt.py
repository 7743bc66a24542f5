"""ConVIRT pretraining recipe and training model: :class:`ConVIRTConfig` (every default cited), named recipes
(:data:`CONVIRT_RECIPES`) and :class:`ConVIRTPretrainModel`, the loss-dict model that
:class:`~raddino_monai.engines.PretrainTrainer` drives.

``ConVIRTPretrainModel(batch) -> {"loss", "loss_image_to_text", "loss_text_to_image", "accuracy_image_to_text",
"accuracy_text_to_image", "temperature"}`` for a batch of ``image (B, 3, S, S)``, ``input_ids`` / ``attention_mask``
``(B, L)`` (:class:`~raddino_monai.ssl.convirt_data.ConVIRTCollate`); ``exported_backbone()`` is the image backbone
written as an HF folder for every evaluation tool.

Sources: [PAPER-CV] Zhang et al., arXiv 2010.00747 (§2, §3 and appendix); [RE] edreisMD/ConVIRT-pytorch @ c99ca5f
``config.yaml`` (the official code was never released); see ``docs/convirt.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from raddino_monai.losses.convirt import ConVIRTLoss
from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.convirt import (
    BackboneImageEncoder,
    ConVIRTModel,
    ConVIRTModelConfig,
    build_image_encoder,
    load_text_encoder,
)
from raddino_monai.ssl.config import PRECISIONS
from raddino_monai.transforms.config_fields import config_from_fields, replace_fields
from raddino_monai.transforms.convirt_augment import ConVIRTAugmentConfig

__all__ = ["CONVIRT_MONITORS", "CONVIRT_RECIPES", "LR_SCHEDULES", "ConVIRTConfig", "ConVIRTPretrainModel",
           "build_convirt_image_encoder"]

#: output scalars of :class:`ConVIRTPretrainModel` that are monitors, not loss terms (TensorBoard ``monitor/``)
CONVIRT_MONITORS: tuple[str, ...] = ("temperature", "accuracy_image_to_text", "accuracy_text_to_image")


def _nested(cls: type, value: Any) -> Any:
    if isinstance(value, (cls, Mapping)):
        return config_from_fields(cls, value)
    raise TypeError(f"expected {cls.__name__} or a mapping of its fields, found {type(value).__name__}.")


@dataclass(frozen=True)
class ConVIRTConfig:
    """One ConVIRT run: architecture, augmentation, loss and optimisation, a source per default.

    Sections may be given as mappings (bundle JSON): ``ConVIRTConfig(model={"text_encoder": "/models/bert"})``.
    """

    # architecture ([PAPER-CV] except the image encoder: see ConVIRTModelConfig); text_encoder = local folder
    model: ConVIRTModelConfig = field(default_factory=ConVIRTModelConfig)
    # the paper's five image transformations at 224 px ([PAPER-CV] §3 / appendix; ConVIRTAugmentConfig cites each)
    augment: ConVIRTAugmentConfig = field(default_factory=ConVIRTAugmentConfig)
    temperature: float = 0.1  # [PAPER-CV] tau = 0.1 ([RE] loss.temperature: 0.1)
    image_to_text_weight: float = 0.75  # [PAPER-CV] lambda = 0.75 ([RE] loss.alpha_weight: 0.75)
    batch_size_per_gpu: int = 32  # [PAPER-CV] batch size 32 on one GPU ([RE] batch_size: 32)
    lr: float = 1e-4  # [PAPER-CV] Adam, initial lr 1e-4 ([RE] learning_rate: 1e-4)
    weight_decay: float = 1e-6  # [PAPER-CV] weight decay 1e-6 ([RE] weight_decay: 1e-6)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam defaults ([RE] torch.optim.Adam without betas)
    # lr schedule: "cosine" to 0 over the run = [RE] CosineAnnealingLR(eta_min=0); [PAPER-CV] halves the lr on a
    # validation-loss plateau, which needs a validation split and state; not reproduced (deviation, docs/convirt.md)
    lr_schedule: str = "cosine"
    warmup_iters: int = 0  # [RE] / [PAPER-CV]: no warm-up
    max_length: int | None = None  # tokens per sentence; None = tokenizer.model_max_length ([RE] truncation=True)
    precision: str = "fp32"  # [RE] trains with apex fp16 on GPU; fp32 default for CPU ("bf16"/"fp16" options)
    clip_grad: float = 0.0  # [PAPER-CV] / [RE]: no gradient clipping

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _nested(ConVIRTModelConfig, self.model))
        object.__setattr__(self, "augment", _nested(ConVIRTAugmentConfig, self.augment))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        problems = []
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule={self.lr_schedule!r} (valid values: {sorted(LR_SCHEDULES)})")
        if self.precision not in PRECISIONS:
            problems.append(f"precision={self.precision!r} (valid values: {sorted(PRECISIONS)})")
        if self.batch_size_per_gpu < 1 or self.warmup_iters < 0 or self.clip_grad < 0:
            problems.append("batch_size_per_gpu >= 1, warmup_iters >= 0 and clip_grad >= 0 needed, found "
                            f"{self.batch_size_per_gpu}, {self.warmup_iters}, {self.clip_grad}")
        if self.max_length is not None and self.max_length < 2:
            problems.append(f"max_length must be >= 2 or None, found {self.max_length}")
        if problems:
            raise ValueError("Invalid ConVIRTConfig: " + "; ".join(problems) + ".")

    def replace(self, **fields: Any) -> ConVIRTConfig:
        """A copy with ``fields`` replaced; ``model`` / ``augment`` mappings update only the fields they name."""
        for name in ("model", "augment"):
            if isinstance(fields.get(name), Mapping):
                fields[name] = replace_fields(getattr(self, name), fields[name])
        return replace_fields(self, fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (what a run records next to its outputs)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_recipe(cls, name: str = "convirt", **fields: Any) -> ConVIRTConfig:
        """A named recipe of :data:`CONVIRT_RECIPES` with ``fields`` replaced (see :meth:`replace`).

        Raises:
            ValueError: unknown recipe (valid names listed).
        """
        if name not in CONVIRT_RECIPES:
            raise ValueError(f"Unknown ConVIRT recipe {name!r}; valid values are {sorted(CONVIRT_RECIPES)}.")
        return CONVIRT_RECIPES[name]().replace(**fields)


def _paper() -> ConVIRTConfig:
    return ConVIRTConfig()


def _tiny() -> ConVIRTConfig:
    """CPU smoke recipe: tiny ViT at 64 px, one frozen text layer, batch 4 (not a recipe to judge results by)."""
    return ConVIRTConfig(
        model=ConVIRTModelConfig(image_encoder="tiny_vit_p16", n_frozen_layers=1, projection_dim=32),
        augment=ConVIRTAugmentConfig.tiny(),
        batch_size_per_gpu=4,
        max_length=32,
    )


#: named recipes: "convirt" (the paper's values, RAD-DINO architecture) and "tiny" (CPU smoke tests)
CONVIRT_RECIPES: dict[str, Callable[[], ConVIRTConfig]] = {"convirt": _paper, "tiny": _tiny}
#: lr schedule names (values built by the job from these; see ConVIRTConfig.lr_schedule)
LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")


def build_convirt_image_encoder(config: ConVIRTConfig) -> nn.Module:
    """``f_v`` of ``config``: a registry backbone with its registry configuration, or ResNet-50.

    A ViT keeps its registry ``image_size`` (position table) and sees the ``augment.size`` crops through the
    position-embedding interpolation of ``Dinov2Model`` (as DINOv2 does for its 224 px crops of a 518 px model), so
    the exported folder is exactly a registry architecture and every tool's ``--encoder arch:folder`` loads it.

    Raises:
        ValueError: unknown encoder / pooling (valid values listed).
    """
    m = config.model
    return build_image_encoder(m.image_encoder, weights=m.image_weights, pooling=m.image_pooling)


class ConVIRTPretrainModel(nn.Module):
    """ConVIRT two-tower model + loss, with the :class:`~raddino_monai.engines.PretrainTrainer` interface.

    Args:
        model: the two towers (:class:`~raddino_monai.models.convirt.ConVIRTModel`).
        loss: :class:`~raddino_monai.losses.ConVIRTLoss`.
        weight_decay: weight decay written into :meth:`param_groups`.

    Example::

        >>> net = ConVIRTPretrainModel.from_config(ConVIRTConfig.from_recipe("tiny", model={"text_encoder": d}))
        >>> out = net({"image": images, "input_ids": ids, "attention_mask": mask})
        >>> out["loss"].backward()
    """

    def __init__(self, model: ConVIRTModel, loss: ConVIRTLoss, weight_decay: float = 1e-6) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.weight_decay = weight_decay

    @classmethod
    def from_config(cls, config: ConVIRTConfig, image_encoder: nn.Module | None = None) -> ConVIRTPretrainModel:
        """Build towers and loss from ``config`` (text encoder read from ``config.model.text_encoder``).

        Args:
            config: the run's config.
            image_encoder: a prebuilt ``f_v`` (default :func:`build_convirt_image_encoder`).

        Raises:
            ValueError: no text encoder path.
            FileNotFoundError: the text encoder folder does not exist.
        """
        m = config.model
        if not m.text_encoder:
            raise ValueError("ConVIRTConfig.model.text_encoder must be the local folder of a transformers text model "
                             "(e.g. a copy of Bio_ClinicalBERT, or raddino_monai.text.build_bert output).")
        text = load_text_encoder(m.text_encoder, pooling=m.text_pooling, n_frozen_layers=m.n_frozen_layers,
                                 freeze_embeddings=m.freeze_embeddings)
        image = image_encoder if image_encoder is not None else build_convirt_image_encoder(config)
        towers = ConVIRTModel(image, text, m.projection_dim, m.projection_hidden_dim)
        return cls(towers, ConVIRTLoss(config.temperature, config.image_to_text_weight), config.weight_decay)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Any]:
        """Args: batch with ``image (B, 3, S, S)``, ``input_ids``, ``attention_mask`` (, ``token_type_ids``)
        ``(B, L)``. Returns: the loss terms of :meth:`ConVIRTLoss.terms` and ``"temperature"``.

        Raises:
            KeyError: a batch key is missing (the keys found are listed).
        """
        missing = [k for k in ("image", "input_ids", "attention_mask") if k not in batch]
        if missing:
            raise KeyError(f"ConVIRT batch lacks {missing}; found {sorted(batch)}. Use ConVIRTCollate.")
        v, u = self.model(batch["image"], batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        return {**self.loss.terms(v, u), "temperature": self.loss.temperature}

    def exported_backbone(self) -> RadDinoBackbone:
        """The image backbone (what the evaluation tools take as an HF folder).

        Raises:
            TypeError: the image encoder is not a registry ViT (ResNet-50 has no Dinov2Model export).
        """
        encoder = self.model.image_encoder
        if not isinstance(encoder, BackboneImageEncoder):
            raise TypeError(f"only registry ViT image encoders are exported as HF folders; this run trains "
                            f"{type(encoder).__name__} (its weights are in the checkpoints).")
        return encoder.backbone

    def student_submodules(self) -> dict[str, nn.Module]:
        """The four trained parts (gradient norms are logged per part)."""
        m = self.model
        return {"image_encoder": m.image_encoder, "text_encoder": m.text_encoder,
                "image_projection": m.image_projection, "text_projection": m.text_projection}

    def param_groups(self) -> list[dict[str, Any]]:
        """Adam groups of the trainable parameters (frozen text layers left out), one per part."""
        return self.model.param_groups(self.weight_decay)

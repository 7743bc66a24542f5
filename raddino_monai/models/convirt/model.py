"""ConVIRTModel: image encoder + text encoder, each followed by its projection head ([PAPER-CV] §2).

``forward(images, input_ids, attention_mask) -> (v, u)``: ``v = g_v(f_v(image))``, ``u = g_u(f_u(sentence))``, both
``(B, projection_dim)`` and not normalised (:class:`~raddino_monai.losses.ConVIRTLoss` uses cosine similarity).
After pretraining only ``f_v`` (``image_encoder``) is kept for downstream tasks; the projections and the text encoder
are needed only for text-image retrieval.

:class:`ConVIRTModelConfig` holds the recipe defaults with their sources; :func:`build_convirt_model` builds from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from raddino_monai.models.convirt.image_encoder import build_image_encoder, image_feature_dim
from raddino_monai.models.convirt.projection import ProjectionHead
from raddino_monai.models.convirt.text_encoder import TextEncoder, load_text_encoder
from raddino_monai.transforms.config_fields import config_from_fields

__all__ = ["ConVIRTModel", "ConVIRTModelConfig", "build_convirt_model"]


@dataclass(frozen=True)
class ConVIRTModelConfig:
    """Architecture of a ConVIRT model. Defaults: [PAPER-CV] except the image encoder (see ``image_encoder``).

    ``text_encoder`` has no default: it is the local folder of a transformers model (ClinicalBERT in [PAPER-CV]).
    """

    text_encoder: str = ""  # local HF folder (required); [PAPER-CV] ClinicalBERT (emilyalsentzer/Bio_ClinicalBERT)
    # default: the RAD-DINO architecture, so SSL and ConVIRT compare the same backbone (issue 14); "resnet50" is the
    # [PAPER-CV] encoder (ImageNet-initialised there: pass a local torchvision-style state dict as image_weights)
    image_encoder: str = "raddino_vitb14"
    image_weights: str | None = None  # local weights of the image encoder; None = random init
    image_pooling: str = "cls"  # ViT backbones: "cls" (RAD-DINO's image embedding [CARD]) or "mean" patch token
    text_pooling: str = "max"  # [PAPER-CV] max-pooling over the output vectors; "mean" = [RE]; "cls"
    n_frozen_layers: int = 6  # [PAPER-CV] first 6 BERT layers frozen ([RE] freeze_layers: [0, 1, 2, 3, 4, 5])
    freeze_embeddings: bool = True  # [PAPER-CV] / [RE2]: embeddings frozen too; False = [RE]
    projection_dim: int = 512  # [PAPER-CV] d = 512 ([RE] model.out_dim: 512)
    projection_hidden_dim: int | None = None  # None = input width, as [RE] (2048 -> 2048 -> 512, 768 -> 768 -> 512)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (JSON-serialisable; what an export writes next to the weights)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ConVIRTModelConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: unknown fields (valid fields listed).
        """
        return config_from_fields(cls, values)


class ConVIRTModel(nn.Module):
    """Two towers with non-linear projections into a shared ``projection_dim`` space.

    Args:
        image_encoder: ``f_v`` with ``out_dim`` and ``forward(images) -> (B, out_dim)``
            (:func:`~raddino_monai.models.convirt.build_image_encoder`).
        text_encoder: ``f_u`` (:class:`~raddino_monai.models.convirt.TextEncoder`).
        projection_dim: shared width ``d`` ([PAPER-CV] 512).
        projection_hidden_dim: hidden width of both projections (``None`` = each input width, [RE]).

    Example::

        >>> model = ConVIRTModel(build_image_encoder("tiny_vit_p16"), load_text_encoder("/models/tiny_bert"))
        >>> v, u = model(images, input_ids, attention_mask)      # (B, 512), (B, 512)
    """

    def __init__(
        self,
        image_encoder: nn.Module,
        text_encoder: TextEncoder,
        projection_dim: int = 512,
        projection_hidden_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.image_projection = ProjectionHead(image_feature_dim(image_encoder), projection_dim, projection_hidden_dim)
        self.text_projection = ProjectionHead(text_encoder.out_dim, projection_dim, projection_hidden_dim)
        self.projection_dim = projection_dim

    def encode_image(self, images: Tensor) -> Tensor:
        """``h_v = f_v(images)``: ``(B, 3, H, W) -> (B, image_encoder.out_dim)`` (the downstream representation)."""
        return self.image_encoder(images)

    def encode_text(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """``h_u = f_u(tokens)``: ``(B, L) -> (B, text_encoder.out_dim)``."""
        return self.text_encoder(input_ids, attention_mask, token_type_ids)

    def embed_image(self, images: Tensor) -> Tensor:
        """``v = g_v(f_v(images))``: ``(B, 3, H, W) -> (B, projection_dim)`` (text-image retrieval space)."""
        return self.image_projection(self.encode_image(images))

    def embed_text(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """``u = g_u(f_u(tokens))``: ``(B, L) -> (B, projection_dim)``."""
        return self.text_projection(self.encode_text(input_ids, attention_mask, token_type_ids))

    def forward(
        self, images: Tensor, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Args: images ``(B, 3, H, W)``; input_ids, attention_mask (, token_type_ids) ``(B, L)``: the sentence
        paired with each image. Returns: ``(v, u)``, each ``(B, projection_dim)``, unnormalised.

        Raises:
            ValueError: images and sentences have different batch sizes.
        """
        if images.shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"one sentence per image expected: {images.shape[0]} images but {input_ids.shape[0]} token rows."
            )
        return self.embed_image(images), self.embed_text(input_ids, attention_mask, token_type_ids)

    def param_groups(self, weight_decay: float = 1e-6) -> list[dict[str, Any]]:
        """Optimizer groups of the *trainable* parameters, one per component (frozen text layers excluded).

        Args:
            weight_decay: applied to every group ([RE] Adam ``weight_decay: 1e-6``; [PAPER-CV] does not say).

        Returns:
            ``[{"name": component, "params": [...], "weight_decay": wd}, ...]`` for ``image_encoder``,
            ``text_encoder``, ``image_projection``, ``text_projection`` (groups without trainable parameters are
            left out), ready for ``torch.optim.Adam(groups, lr=...)``.
        """
        groups = []
        for name in ("image_encoder", "text_encoder", "image_projection", "text_projection"):
            params = [p for p in getattr(self, name).parameters() if p.requires_grad]
            if params:
                groups.append({"name": name, "params": params, "weight_decay": weight_decay})
        return groups


def build_convirt_model(config: ConVIRTModelConfig | Mapping[str, Any], **image_overrides: Any) -> ConVIRTModel:
    """Build a :class:`ConVIRTModel` from its config (text encoder and image weights read from local paths).

    Args:
        config: :class:`ConVIRTModelConfig` or a mapping of its fields (bundle JSON).
        image_overrides: backbone architecture overrides (``image_size=224`` ...).

    Raises:
        ValueError: no ``text_encoder`` path, or an invalid name / pooling (valid values listed).
        FileNotFoundError: the text encoder folder does not exist.
    """
    cfg = config if isinstance(config, ConVIRTModelConfig) else ConVIRTModelConfig.from_dict(config)
    if not cfg.text_encoder:
        raise ValueError(
            "ConVIRTModelConfig.text_encoder must be the local folder of a transformers text model "
            "(e.g. a copy of emilyalsentzer/Bio_ClinicalBERT); none was given."
        )
    weights = Path(cfg.image_weights) if cfg.image_weights else None
    image_encoder = build_image_encoder(cfg.image_encoder, weights=weights, pooling=cfg.image_pooling, **image_overrides)
    text_encoder = load_text_encoder(
        cfg.text_encoder, pooling=cfg.text_pooling, n_frozen_layers=cfg.n_frozen_layers,
        freeze_embeddings=cfg.freeze_embeddings,
    )
    return ConVIRTModel(image_encoder, text_encoder, cfg.projection_dim, cfg.projection_hidden_dim)

"""ConVIRT model pieces (Zhang et al., arXiv 2010.00747): image / text encoders, projection heads, the two-tower model.

Example::

    >>> from raddino_monai.models.convirt import ConVIRTModelConfig, build_convirt_model
    >>> model = build_convirt_model(ConVIRTModelConfig(text_encoder="/models/Bio_ClinicalBERT"))
    >>> v, u = model(images, input_ids, attention_mask)     # (B, 512) each

The loss is :class:`raddino_monai.losses.ConVIRTLoss`.
"""

from __future__ import annotations

from raddino_monai.models.convirt.image_encoder import (
    IMAGE_POOLINGS,
    BackboneImageEncoder,
    ResNet50ImageEncoder,
    build_image_encoder,
    image_feature_dim,
    list_image_encoders,
)
from raddino_monai.models.convirt.model import ConVIRTModel, ConVIRTModelConfig, build_convirt_model
from raddino_monai.models.convirt.projection import ProjectionHead
from raddino_monai.models.convirt.text_encoder import (
    TEXT_POOLINGS,
    TextEncoder,
    load_text_encoder,
    load_tokenizer,
    tokenize_texts,
)

__all__ = [
    "IMAGE_POOLINGS",
    "TEXT_POOLINGS",
    "BackboneImageEncoder",
    "ResNet50ImageEncoder",
    "build_image_encoder",
    "image_feature_dim",
    "list_image_encoders",
    "ProjectionHead",
    "TextEncoder",
    "load_text_encoder",
    "load_tokenizer",
    "tokenize_texts",
    "ConVIRTModel",
    "ConVIRTModelConfig",
    "build_convirt_model",
]

"""ViT backbones (transformers Dinov2Model behind a timm-style interface), named architectures, weight I/O, and the
ECAMP pretraining network (``models/ecamp/``: MAE masking + decoder, super-resolution head, image-conditioned BERT
report decoder). ConVIRT's pieces are in ``models/convirt/``.

Example::

    >>> from raddino_monai.models import create_backbone, export_hf_folder
    >>> backbone = create_backbone("raddino_vitb14", weights="/models/rad-dino")  # local HF folder or .safetensors
"""

from __future__ import annotations

from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.dino_head import DINOHead
from raddino_monai.models.factory import backbone_from_hf_folder, create_backbone
from raddino_monai.models.init_warning import RandomInitWarning, warn_if_random_init
from raddino_monai.models.registry import (
    BACKBONE_SPECS,
    BackboneSpec,
    build_hf_config,
    get_backbone_spec,
    list_backbones,
)
from raddino_monai.models.ecamp import (
    ContextFusionLayer,
    ECAMPConfig,
    ECAMPModel,
    InterpolateConvSR,
    MAEDecoder,
    PatchMasking,
    ReportDecoder,
    box_region_map,
    build_ecamp_model,
    build_report_decoder,
    encode_visible,
    patchify,
    random_masking,
    unpatchify,
)
from raddino_monai.models.sincos import sincos_2d_position_embedding
from raddino_monai.models.weights import (
    CheckpointError,
    export_dinov2_safetensors,
    export_hf_folder,
    load_backbone_weights,
    load_dino_head,
    read_backbone_weights,
)

__all__ = [
    "RandomInitWarning",
    "warn_if_random_init",
    "RadDinoBackbone",
    "DINOHead",
    "load_dino_head",
    "create_backbone",
    "backbone_from_hf_folder",
    "list_backbones",
    "get_backbone_spec",
    "build_hf_config",
    "BackboneSpec",
    "BACKBONE_SPECS",
    "CheckpointError",
    "load_backbone_weights",
    "read_backbone_weights",
    "export_hf_folder",
    "export_dinov2_safetensors",
    # ECAMP (models/ecamp/)
    "ECAMPConfig",
    "ECAMPModel",
    "build_ecamp_model",
    "MAEDecoder",
    "PatchMasking",
    "random_masking",
    "encode_visible",
    "patchify",
    "unpatchify",
    "sincos_2d_position_embedding",
    "InterpolateConvSR",
    "box_region_map",
    "ContextFusionLayer",
    "ReportDecoder",
    "build_report_decoder",
]

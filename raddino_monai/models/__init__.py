"""ViT backbones (transformers Dinov2Model behind a timm-style interface), named architectures and weight I/O.

Example::

    >>> from raddino_monai.models import create_backbone, export_hf_folder
    >>> backbone = create_backbone("raddino_vitb14", weights="/models/rad-dino")  # local HF folder or .safetensors
"""

from __future__ import annotations

from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.dino_head import DINOHead, load_dino_head
from raddino_monai.models.factory import backbone_from_hf_folder, create_backbone
from raddino_monai.models.init_warning import RandomInitWarning, warn_if_random_init
from raddino_monai.models.registry import (
    BACKBONE_SPECS,
    BackboneSpec,
    build_hf_config,
    get_backbone_spec,
    list_backbones,
)
from raddino_monai.models.weights import (
    CheckpointError,
    export_dinov2_safetensors,
    export_hf_folder,
    load_backbone_weights,
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
]

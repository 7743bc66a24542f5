"""Checkpoint I/O: safe loading, DINOv2 / MAE-timm <-> Hugging Face backbone naming, HF folder export, DINO head
files."""

from __future__ import annotations

from raddino_monai.models.weights.convert import convert_head, convert_to_dinov2, convert_to_hf, infer_spec
from raddino_monai.models.weights.dinov2_keys import (
    TIMM_NON_BACKBONE,
    dinov2_or_timm_to_hf,
    dinov2_to_hf,
    hf_to_dinov2,
    hf_to_timm,
    memory_to_released,
    released_to_memory,
    timm_to_hf,
)
from raddino_monai.models.weights.head_file import (
    dino_head_state_dict_from_released,
    dino_head_state_dict_to_released,
    load_dino_head,
)
from raddino_monai.models.weights.hf_folder import (
    export_dinov2_safetensors,
    export_hf_folder,
    is_hf_folder,
    raddino_preprocessor_config,
    read_hf_folder,
    released_state_dict,
)
from raddino_monai.models.weights.load import load_backbone_weights, load_released_state, read_backbone_weights
from raddino_monai.models.weights.safe_load import CheckpointError, load_checkpoint

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "dinov2_to_hf",
    "hf_to_dinov2",
    "TIMM_NON_BACKBONE",
    "timm_to_hf",
    "hf_to_timm",
    "dinov2_or_timm_to_hf",
    "memory_to_released",
    "released_to_memory",
    "is_hf_folder",
    "read_hf_folder",
    "raddino_preprocessor_config",
    "released_state_dict",
    "export_hf_folder",
    "export_dinov2_safetensors",
    "read_backbone_weights",
    "load_released_state",
    "load_backbone_weights",
    "convert_to_hf",
    "convert_to_dinov2",
    "convert_head",
    "infer_spec",
    "load_dino_head",
    "dino_head_state_dict_to_released",
    "dino_head_state_dict_from_released",
]

"""Load backbone weights from any supported source into a :class:`RadDinoBackbone`, strictly.

Sources, told apart by content (directory layout and parameter names, never file names):

* an HF model folder (``config.json`` + ``model.safetensors``; keys in released or 5.x in-memory naming, optionally
  under a task-model prefix such as ``dinov2.``);
* a DINOv2-format file (``.pth`` or ``.safetensors``, e.g. RAD-DINO ``backbone_compatible.safetensors``, a hub
  ``dinov2_vitb14_pretrain.pth``, or a training checkpoint with ``teacher.backbone.*`` keys: pass ``prefix``);
* an MAE / timm-named file (``mae_pretrain_vit_base.pth``, an ECAMP checkpoint; no LayerScale keys), converted by
  :func:`~raddino_monai.models.weights.dinov2_keys.timm_to_hf`;
* a file of HF-named tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from raddino_monai.models.weights.dinov2_keys import (
    DINOV2_MARKER,
    HF_MARKER,
    dinov2_or_timm_to_hf,
    released_to_memory,
)
from raddino_monai.models.weights.hf_folder import read_hf_folder
from raddino_monai.models.weights.safe_load import CheckpointError, load_checkpoint, select_prefix

if TYPE_CHECKING:
    from raddino_monai.models.backbone import RadDinoBackbone

__all__ = ["read_backbone_weights", "load_released_state", "load_backbone_weights"]

# marker key -> converter to released HF naming (identity for HF-named checkpoints)
_FORMATS: dict[str, Any] = {
    HF_MARKER: lambda state, source: dict(state),
    DINOV2_MARKER: dinov2_or_timm_to_hf,  # DINOv2 naming, or MAE/timm naming when there is no LayerScale
}


def read_backbone_weights(
    path: str | Path, prefix: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Read backbone weights in released HF naming from a folder or file of any supported format.

    Args:
        path: HF model folder or checkpoint file.
        prefix: key prefix of the backbone inside the checkpoint (``"teacher.backbone."``, ``"dinov2."``...);
            ``None`` auto-detects it when there is exactly one backbone.

    Returns:
        ``(state dict in released HF naming, config.json dict or None for plain files)``.

    Raises:
        CheckpointError: unreadable or pickled-code files, no recognisable backbone, ambiguous prefix, unmapped keys.
    """
    path = Path(path)
    config: dict[str, Any] | None = None
    if path.is_dir():
        config, tensors = read_hf_folder(path)
    elif path.is_file():
        tensors = load_checkpoint(path)
    else:
        raise CheckpointError(f"Weights not found: {path} (expected an HF model folder or a checkpoint file).")
    for marker, convert in _FORMATS.items():
        if any(k.endswith(marker) for k in tensors):
            return convert(select_prefix(tensors, marker, prefix, path), path), config
    sample = sorted(tensors)[:8]
    raise CheckpointError(
        f"{path}: no ViT backbone found; expected a key ending in {list(_FORMATS)} (HF or DINOv2 naming), "
        f"found keys like {sample}."
    )


def load_released_state(backbone: RadDinoBackbone, state: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Strictly load a released-naming state dict into ``backbone.model``.

    Raises:
        CheckpointError: missing or unexpected keys, or shape mismatches (all listed; a position-embedding mismatch
            says which ``image_size`` the checkpoint was saved for).
    """
    model_state = backbone.model.state_dict()
    mapped = released_to_memory(state, model_state.keys(), source)
    missing = sorted(set(model_state) - set(mapped))
    unexpected = sorted(set(mapped) - set(model_state))
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    shapes = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_state[k].shape)}"
        for k, v in mapped.items()
        if k in model_state and v.shape != model_state[k].shape
    ]
    if shapes:
        problems.append(f"shape mismatches {shapes}")
    pos = mapped.get("embeddings.position_embeddings")
    if pos is not None and pos.shape != model_state["embeddings.position_embeddings"].shape:
        side = int(round((pos.shape[1] - 1) ** 0.5)) * backbone.patch_size
        problems.append(f"the checkpoint's position embeddings are for image_size={side}; pass image_size={side}")
    if problems:
        raise CheckpointError(f"{source}: weights do not fit {type(backbone.model).__name__}: " + "; ".join(problems))
    backbone.model.load_state_dict(mapped, strict=True)


def load_backbone_weights(backbone: RadDinoBackbone, path: str | Path, prefix: str | None = None) -> RadDinoBackbone:
    """Read weights from ``path`` (any supported format) and load them strictly into ``backbone``.

    Args:
        backbone: target model (architecture must match).
        path: HF model folder or checkpoint file.
        prefix: backbone key prefix inside the checkpoint (see :func:`read_backbone_weights`).

    Returns:
        ``backbone``, for chaining.

    Raises:
        CheckpointError: see :func:`read_backbone_weights` and :func:`load_released_state`.
    """
    state, _ = read_backbone_weights(path, prefix)
    load_released_state(backbone, state, path)
    return backbone

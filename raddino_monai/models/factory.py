"""Backbone factories: :func:`create_backbone` (named architecture + optional weights) and
:func:`backbone_from_hf_folder` (architecture read from ``config.json``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.registry import BackboneSpec, build_hf_config, get_backbone_spec
from raddino_monai.models.weights.load import load_released_state, read_backbone_weights
from raddino_monai.models.weights.safe_load import CheckpointError

__all__ = ["create_backbone", "backbone_from_hf_folder", "spec_from_hf_config"]

# config.json fields that must agree with the requested architecture (image_size is checked via position embeddings)
_STRUCTURAL_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "patch_size",
    "mlp_ratio",
    "use_swiglu_ffn",
    "layer_norm_eps",
    "qkv_bias",
    "hidden_act",
    "num_register_tokens",
)


def spec_from_hf_config(config: dict[str, Any], source: str | Path = "config.json") -> BackboneSpec:
    """Build a :class:`BackboneSpec` from a transformers ``Dinov2Config`` dict (``config.json``).

    Raises:
        CheckpointError: a required field is missing.
    """
    required = ("hidden_size", "num_hidden_layers", "num_attention_heads", "patch_size", "image_size")
    missing = [k for k in required if k not in config]
    if missing:
        raise CheckpointError(f"{source}: config.json lacks {missing}; is it a Dinov2 config?")
    names = {f.name for f in dataclasses.fields(BackboneSpec)} - {"source"}
    values = {k: config[k] for k in names if k in config and config[k] is not None}
    return BackboneSpec(**values, source=str(source))


def _check_config(spec: BackboneSpec, config: dict[str, Any], source: str | Path) -> None:
    defaults = {"num_register_tokens": 0}
    diffs = [
        f"{k}: config.json {config.get(k, defaults.get(k))!r} vs requested {getattr(spec, k)!r}"
        for k in _STRUCTURAL_FIELDS
        if config.get(k, defaults.get(k)) is not None and config.get(k, defaults.get(k)) != getattr(spec, k)
    ]
    if diffs:
        raise CheckpointError(f"{source}: the folder's architecture differs from the requested one: {diffs}")


def create_backbone(
    name: str,
    *,
    weights: str | Path | None = None,
    prefix: str | None = None,
    attn_implementation: str = "sdpa",
    **config_overrides: Any,
) -> RadDinoBackbone:
    """Build a named backbone, optionally loading weights strictly.

    Args:
        name: a name from :func:`~raddino_monai.models.registry.list_backbones` (e.g. ``"raddino_vitb14"``).
        weights: ``None`` (random init), an HF model folder, or a DINOv2-format / HF-named checkpoint file
            (``.safetensors`` or ``.pth``; format detected from the keys).
        prefix: backbone key prefix inside a training checkpoint (``"teacher.backbone."``); auto when unique.
        attn_implementation: ``"sdpa"`` (default) or ``"eager"``.
        config_overrides: :class:`~raddino_monai.models.registry.BackboneSpec` fields, e.g. ``drop_path_rate=0.3``,
            ``image_size=224``, ``num_register_tokens=4`` (builds ``Dinov2WithRegistersModel``).

    Returns:
        the backbone, in training mode like any new ``nn.Module``.

    Raises:
        ValueError: unknown name or override (valid values listed).
        CheckpointError: weights that cannot be read or do not fit (keys/shapes listed).

    Example::

        >>> backbone = create_backbone("raddino_vitb14", weights="/models/rad-dino")  # local HF folder
        >>> backbone.forward_features(images)["patch_grid"].shape  # images (B, 3, 518, 518)
        torch.Size([B, 768, 37, 37])
    """
    spec = get_backbone_spec(name, **config_overrides)
    backbone = RadDinoBackbone(build_hf_config(spec, attn_implementation))
    if weights is not None:
        state, folder_config = read_backbone_weights(weights, prefix)
        if folder_config is not None:
            _check_config(spec, folder_config, weights)
        load_released_state(backbone, state, weights)
    return backbone


def backbone_from_hf_folder(
    folder: str | Path, *, attn_implementation: str = "sdpa", **config_overrides: Any
) -> RadDinoBackbone:
    """Build a backbone whose architecture comes from ``folder/config.json`` and load its weights strictly.

    Args:
        folder: HF model folder (``config.json`` + ``model.safetensors``), e.g. a local copy of microsoft/rad-dino.
        attn_implementation: ``"sdpa"`` or ``"eager"``.
        config_overrides: non-structural changes such as ``drop_path_rate``.

    Raises:
        CheckpointError: not an HF folder, not a Dinov2 config, or weights that do not fit.
    """
    state, config = read_backbone_weights(folder)
    if config is None:
        raise CheckpointError(f"{folder} is a file; backbone_from_hf_folder needs an HF model folder.")
    spec = spec_from_hf_config(config, Path(folder) / "config.json").replace(**config_overrides)
    backbone = RadDinoBackbone(build_hf_config(spec, attn_implementation))
    load_released_state(backbone, state, folder)
    return backbone

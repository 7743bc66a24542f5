"""AdamW parameter groups with layer-wise lr decay, no weight decay on 1-D parameters, and a last-layer flag.

[DV2] ``utils/param_groups.py`` semantics, per trainable parameter of the student modules:

* ``lr_multiplier = layer_decay ** (L + 1 - layer_id)`` for the backbone (``layer_id`` 0 for embeddings and
  tokens, ``i + 1`` for block ``i``, ``L + 1`` for the final norm) and 1 for the heads; patch-embedding parameters
  get an extra ``patch_embed_lr_mult`` (0.2): ``0.9 ** 13 * 0.2 ~ 0.051`` for ViT-B.
* ``wd_multiplier = 0`` for biases, norm weights and LayerScale (DINOv2 matches ``.bias``/``norm``/``gamma`` in
  names; these are exactly the 1-D parameters of a ViT and its heads, so ``param.ndim <= 1`` is the default rule).
* ``is_last_layer`` for the prototype layer of every :class:`~raddino_monai.models.dino_head.DINOHead` (found by
  module type), whose lr is 0 for the first epoch ([DV2] ``freeze_last_layer_epochs``).

Parameters with equal multipliers and flags are fused into one group ([DV2] ``fuse_params_groups``); a parameter
shared by several modules (a shared DINO/iBOT head) is listed once. :func:`apply_schedule_values` then sets each
group's ``lr`` and ``weight_decay`` from the schedule values ([DV2] ``apply_optim_scheduler``).

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/utils/param_groups.py``, ``dinov2/train/train.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from raddino_monai.models.dino_head import DINOHead

__all__ = ["build_param_groups", "apply_schedule_values"]


def _conv_param_names(module: nn.Module) -> set[str]:
    """Names of the parameters owned by ``nn.Conv2d`` modules (the ViT patch embedding)."""
    return {
        f"{mod_name}.{p_name}" if mod_name else p_name
        for mod_name, mod in module.named_modules()
        if isinstance(mod, nn.Conv2d)
        for p_name, _ in mod.named_parameters(recurse=False)
    }


def _last_layer_param_ids(modules: Mapping[str, nn.Module]) -> set[int]:
    return {
        id(p)
        for module in modules.values()
        for sub in module.modules()
        if isinstance(sub, DINOHead)
        for p in sub.last_layer.parameters()
    }


def build_param_groups(
    modules: Mapping[str, nn.Module],
    *,
    layer_decay: float,
    patch_embed_lr_mult: float,
    num_layers: int | None = None,
    layer_id_fn: Callable[[str], int] | None = None,
    patch_embed_fn: Callable[[str], bool] | None = None,
    no_weight_decay_fn: Callable[[str, torch.Tensor], bool] | None = None,
    backbone_key: str = "backbone",
) -> list[dict[str, Any]]:
    """AdamW parameter groups for the student (frozen parameters are skipped).

    Args:
        modules: student submodules by name, e.g. ``{"backbone": ..., "dino_head": ..., "ibot_head": ...}``.
        layer_decay: layer-wise lr decay (``OptimConfig.layerwise_decay``; 1.0 disables).
        patch_embed_lr_mult: extra patch-embedding multiplier (``OptimConfig.patch_embed_lr_mult``; 1.0 disables).
        num_layers: number of backbone blocks ``L``; ``None`` -> ``modules[backbone_key].num_layers``.
        layer_id_fn: parameter name (relative to the backbone) -> layer id; ``None`` ->
            ``modules[backbone_key].layer_id``.
        patch_embed_fn: name (relative to the backbone) -> is patch embedding; ``None`` ->
            ``modules[backbone_key].is_patch_embed`` if it exists, else the parameters of ``nn.Conv2d`` modules.
        no_weight_decay_fn: ``(name, param) -> True`` for no weight decay; ``None`` -> ``param.ndim <= 1``.
        backbone_key: which entry of ``modules`` gets layer-wise decay (absent: no layer decay at all).

    Returns:
        list of dicts with ``params``, ``param_names`` (``"<module key>.<name>"``), ``lr_multiplier``,
        ``wd_multiplier``, ``is_last_layer``; pass them to ``torch.optim.AdamW``.

    Raises:
        ValueError: the backbone lacks ``num_layers``/``layer_id`` and no replacement was given, or a layer id is
            outside ``[0, L + 1]``.

    Example:
        >>> groups = build_param_groups({"backbone": backbone, "dino_head": head}, layer_decay=0.9,
        ...                             patch_embed_lr_mult=0.2)                     # doctest: +SKIP
        >>> optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.999))                  # doctest: +SKIP
    """
    backbone = modules.get(backbone_key)
    if backbone is not None:
        num_layers = getattr(backbone, "num_layers", None) if num_layers is None else num_layers
        layer_id_fn = getattr(backbone, "layer_id", None) if layer_id_fn is None else layer_id_fn
        if num_layers is None or layer_id_fn is None:
            raise ValueError(
                f"modules[{backbone_key!r}] ({type(backbone).__name__}) has no 'num_layers'/'layer_id'; pass "
                f"num_layers= and layer_id_fn= for layer-wise lr decay."
            )
        if patch_embed_fn is None:
            patch_embed_fn = getattr(backbone, "is_patch_embed", None)
        if patch_embed_fn is None:
            conv_names = _conv_param_names(backbone)
            patch_embed_fn = conv_names.__contains__
    no_wd = no_weight_decay_fn or (lambda name, param: param.ndim <= 1)
    last_layer_ids = _last_layer_param_ids(modules)
    fused: dict[tuple[float, float, bool], dict[str, Any]] = {}
    seen: set[int] = set()
    for key, module in modules.items():
        for name, param in module.named_parameters():
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            lr_mult = 1.0
            if module is backbone and layer_id_fn is not None and num_layers is not None:
                layer_id = layer_id_fn(name)
                if not 0 <= layer_id <= num_layers + 1:
                    raise ValueError(f"layer_id({name!r}) = {layer_id} is outside [0, {num_layers + 1}].")
                lr_mult = layer_decay ** (num_layers + 1 - layer_id)
                if patch_embed_fn is not None and patch_embed_fn(name):
                    lr_mult *= patch_embed_lr_mult
            group_key = (lr_mult, 0.0 if no_wd(name, param) else 1.0, id(param) in last_layer_ids)
            group = fused.setdefault(
                group_key,
                {
                    "params": [],
                    "param_names": [],
                    "lr_multiplier": group_key[0],
                    "wd_multiplier": group_key[1],
                    "is_last_layer": group_key[2],
                },
            )
            group["params"].append(param)
            group["param_names"].append(f"{key}.{name}")
    return list(fused.values())


def apply_schedule_values(
    optimizer: torch.optim.Optimizer, lr: float, weight_decay: float, last_layer_lr: float
) -> None:
    """Set every group's ``lr`` and ``weight_decay`` from the iteration's schedule values ([DV2]).

    ``group["lr"] = (last_layer_lr if group["is_last_layer"] else lr) * group["lr_multiplier"]`` and
    ``group["weight_decay"] = weight_decay * group["wd_multiplier"]``. Groups without these keys count as
    multiplier 1 and not last layer.
    """
    for group in optimizer.param_groups:
        base = last_layer_lr if group.get("is_last_layer", False) else lr
        group["lr"] = base * group.get("lr_multiplier", 1.0)
        group["weight_decay"] = weight_decay * group.get("wd_multiplier", 1.0)

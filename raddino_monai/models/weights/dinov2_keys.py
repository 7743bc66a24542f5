"""Parameter-name mapping between the three namings of a DINOv2 ViT.

* **DINOv2** (facebookresearch/dinov2, RAD-DINO ``backbone_compatible.safetensors``): ``blocks.i.attn.qkv`` (fused),
  ``blocks.i.ls1.gamma``, ``pos_embed``, ``norm``; ``block_chunks > 0`` checkpoints use ``blocks.c.i.*`` and are
  normalised to ``blocks.i.*`` (global block index ``i`` is kept inside chunks [DV2]). SwiGLU (ViT-g): ``mlp.w12``
  (gate and up fused) and ``mlp.w3``.
* **Released HF** (what transformers 4.x holds in memory and every version writes to ``model.safetensors``):
  ``encoder.layer.i.attention.attention.query/key/value``, ``attention.output.dense``, ``layer_scale1.lambda1``,
  ``mlp.fc1/fc2`` or SwiGLU ``mlp.weights_in/weights_out``; ``layernorm``.
* **MAE / timm** (facebookresearch/mae ``models_mae.py``, timm ``VisionTransformer`` without ``init_values``; ECAMP's
  encoder): DINOv2 naming without LayerScale and without the backbone mask token. :func:`timm_to_hf` fills
  ``layer_scale*.lambda1`` with ones (identity) and ``embeddings.mask_token`` with zeros (transformers' init; only
  iBOT-style masking uses it), and drops the non-backbone parts an MAE / ECAMP checkpoint carries
  (:data:`TIMM_NON_BACKBONE`). Which of the two namings a ``patch_embed.proj.weight`` file uses is decided by the
  presence of ``blocks.i.ls1.gamma`` (:func:`dinov2_or_timm_to_hf`).
* **In-memory transformers 5.x**: ``attention.q_proj/k_proj/v_proj/o_proj`` and SwiGLU
  ``mlp.gate_proj/up_proj/down_proj`` (transformers 5 converts on load/save through ``conversion_mapping.py``; we map
  explicitly, so the same code serves 4.x and 5.x models).

All conversions are strict: a key no rule knows, or an incomplete fused group, raises :class:`CheckpointError`
listing every offending key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from raddino_monai.models.weights.safe_load import CheckpointError

__all__ = [
    "DINOV2_MARKER",
    "HF_MARKER",
    "normalize_block_chunks",
    "dinov2_to_hf",
    "hf_to_dinov2",
    "TIMM_NON_BACKBONE",
    "timm_to_hf",
    "hf_to_timm",
    "dinov2_or_timm_to_hf",
    "memory_to_released",
    "released_to_memory",
]

DINOV2_MARKER = "patch_embed.proj.weight"
HF_MARKER = "embeddings.patch_embeddings.projection.weight"

# released HF name -> DINOv2 name, outside the blocks
_GLOBAL = {
    "embeddings.cls_token": "cls_token",
    "embeddings.mask_token": "mask_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.register_tokens": "register_tokens",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}
# released HF block-local name (without .weight/.bias) -> DINOv2 block-local name
_BLOCK = {
    "norm1": "norm1",
    "norm2": "norm2",
    "attention.output.dense": "attn.proj",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "mlp.weights_in": "mlp.w12",
    "mlp.weights_out": "mlp.w3",
}
_LAYER_SCALE = {"layer_scale1.lambda1": "ls1.gamma", "layer_scale2.lambda1": "ls2.gamma"}
# DINOv2 fused module -> released HF parts, concatenated along dim 0 in this order
_DINOV2_FUSED = {"attn.qkv": ("attention.attention.query", "attention.attention.key", "attention.attention.value")}
# released HF module -> in-memory transformers 5.x module
_MEMORY_RENAMES = {
    "attention.attention.query": "attention.q_proj",
    "attention.attention.key": "attention.k_proj",
    "attention.attention.value": "attention.v_proj",
    "attention.output.dense": "attention.o_proj",
    "mlp.weights_out": "mlp.down_proj",
}
# released HF module -> in-memory 5.x parts (SwiGLU gate first: DINOv2 ``x1, x2 = w12(x).chunk(2)``, silu(x1) * x2)
_MEMORY_FUSED = {"mlp.weights_in": ("mlp.gate_proj", "mlp.up_proj")}

#: MAE / timm / ECAMP checkpoint key prefixes that are not part of the ViT backbone -> what they are
TIMM_NON_BACKBONE = {
    "decoder_": "MAE pixel decoder (decoder_embed, decoder_blocks, decoder_norm, decoder_pred, decoder_pos_embed)",
    "mask_token": "MAE decoder mask token (1, 1, D_decoder), not a backbone parameter in MAE naming",
    "head.": "timm classifier head",
    "super_res.": "ECAMP super-resolution head",
    "bert_encoder.": "ECAMP report decoder",
    "bert_mlp.": "ECAMP image-to-text projection",
}

_HF_BLOCK_RE = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
_DV2_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")
_DV2_CHUNK_RE = re.compile(r"^blocks\.\d+\.(\d+)\.(.+)$")
_DV2_LS_RE = re.compile(r"^blocks\.\d+\.ls[12]\.gamma$")
_PARAM_RE = re.compile(r"^(.+)\.(weight|bias)$")


def _fail(source: str | Path, what: str, keys: Iterable[str]) -> CheckpointError:
    keys = sorted(keys)
    shown = ", ".join(keys[:20]) + (f" ... ({len(keys)} in all)" if len(keys) > 20 else "")
    return CheckpointError(f"{source}: {what}: {shown}")


def normalize_block_chunks(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rewrite DINOv2 ``block_chunks`` keys ``blocks.c.i.*`` to ``blocks.i.*`` (other keys unchanged)."""
    if not any(_DV2_CHUNK_RE.match(k) for k in state):
        return dict(state)
    return {(f"blocks.{m.group(1)}.{m.group(2)}" if (m := _DV2_CHUNK_RE.match(k)) else k): v for k, v in state.items()}


def _invert(table: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


def _rename_block_param(local: str, modules: Mapping[str, str], params: Mapping[str, str]) -> str | None:
    """Map a block-local parameter name through a module table (``x.weight``) or a full-name table."""
    if local in params:
        return params[local]
    m = _PARAM_RE.match(local)
    if m and m.group(1) in modules:
        return f"{modules[m.group(1)]}.{m.group(2)}"
    return None


def _rename_rest(
    state: Mapping[str, torch.Tensor],
    used: set[str],
    out: dict[str, torch.Tensor],
    block_re: re.Pattern,
    tables: tuple[Mapping[str, str], Mapping[str, str], Mapping[str, str]],
    block_fmt: str,
) -> list[str]:
    """Rename every key of ``state`` not in ``used`` into ``out`` (in place) and return the keys no rule maps.

    ``tables`` are (global names, block module names, block full-parameter names); block keys matched by
    ``block_re`` (groups: block index, local name) become ``block_fmt.format(i=..., new=...)``.
    """
    global_names, block_modules, block_params = tables
    unknown = []
    for key, value in state.items():
        if key in used:
            continue
        m = block_re.match(key)
        new = _rename_block_param(m.group(2), block_modules, block_params) if m else global_names.get(key)
        if new is None:
            unknown.append(key)
            continue
        out[block_fmt.format(i=m.group(1), new=new) if m else new] = value
    return unknown


def _split_fused(
    state: Mapping[str, torch.Tensor],
    block_re: re.Pattern,
    fused: Mapping[str, tuple[str, ...]],
    out_block: str,
) -> tuple[dict[str, torch.Tensor], set[str]]:
    """Split fused block parameters into parts (chunk along dim 0); returns (new tensors, consumed keys)."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for key, value in state.items():
        m = block_re.match(key)
        p = _PARAM_RE.match(m.group(2)) if m else None
        if m and p and p.group(1) in fused:
            parts = fused[p.group(1)]
            for part, chunk in zip(parts, value.chunk(len(parts), dim=0)):
                out[out_block.format(i=m.group(1), local=f"{part}.{p.group(2)}")] = chunk.clone()
            used.add(key)
    return out, used


def _join_fused(
    state: Mapping[str, torch.Tensor],
    block_re: re.Pattern,
    fused: Mapping[str, tuple[str, ...]],
    out_block: str,
    source: str | Path,
) -> tuple[dict[str, torch.Tensor], set[str]]:
    """Concatenate groups of block parameters (dim 0) into one fused parameter; incomplete groups raise."""
    part_of = {part: (name, idx) for name, parts in fused.items() for idx, part in enumerate(parts)}
    groups: dict[tuple[str, str, str], dict[int, str]] = {}
    for key in state:
        m = block_re.match(key)
        p = _PARAM_RE.match(m.group(2)) if m else None
        if m and p and p.group(1) in part_of:
            name, idx = part_of[p.group(1)]
            groups.setdefault((m.group(1), name, p.group(2)), {})[idx] = key
    out: dict[str, torch.Tensor] = {}
    incomplete: list[str] = []
    for (i, name, kind), members in groups.items():
        if len(members) != len(fused[name]):
            incomplete += [f"{k} (needs {len(fused[name])} parts of {name})" for k in members.values()]
            continue
        out[out_block.format(i=i, local=f"{name}.{kind}")] = torch.cat([state[members[j]] for j in sorted(members)])
    if incomplete:
        raise _fail(source, "incomplete fused parameter group", incomplete)
    return out, {k for members in groups.values() for k in members.values()}


def dinov2_to_hf(state: Mapping[str, torch.Tensor], source: str | Path = "<state_dict>") -> dict[str, torch.Tensor]:
    """DINOv2 naming -> released HF naming (qkv split into query/key/value, ``ls1.gamma`` -> ``lambda1``, ...).

    Args:
        state: DINOv2 backbone state dict (``blocks.i.*`` or ``blocks.c.i.*``), prefix already stripped.
        source: name used in error messages.

    Raises:
        CheckpointError: keys no rule maps (listed).
    """
    state = normalize_block_chunks(state)
    inv_global, inv_block, inv_ls = _invert(_GLOBAL), _invert(_BLOCK), _invert(_LAYER_SCALE)
    out, used = _split_fused(state, _DV2_BLOCK_RE, _DINOV2_FUSED, "encoder.layer.{i}.{local}")
    tables = (inv_global, inv_block, inv_ls)
    unknown = _rename_rest(state, used, out, _DV2_BLOCK_RE, tables, "encoder.layer.{i}.{new}")
    if unknown:
        raise _fail(source, "unexpected keys for a DINOv2 backbone", unknown)
    return out


def hf_to_dinov2(state: Mapping[str, torch.Tensor], source: str | Path = "<state_dict>") -> dict[str, torch.Tensor]:
    """Released HF naming -> DINOv2 naming (inverse of :func:`dinov2_to_hf`; also accepts 5.x in-memory names).

    Raises:
        CheckpointError: keys no rule maps, or a query/key/value triple that is incomplete (listed).
    """
    state = memory_to_released(state, source)
    out, used = _join_fused(state, _HF_BLOCK_RE, _DINOV2_FUSED, "blocks.{i}.{local}", source)
    unknown = _rename_rest(state, used, out, _HF_BLOCK_RE, (_GLOBAL, _BLOCK, _LAYER_SCALE), "blocks.{i}.{new}")
    if unknown:
        raise _fail(source, "unexpected keys for a Hugging Face Dinov2 backbone", unknown)
    return out


def timm_to_hf(state: Mapping[str, torch.Tensor], source: str | Path = "<state_dict>") -> dict[str, torch.Tensor]:
    """MAE / timm ViT naming -> released HF naming (LayerScale 1, zero mask token; see the module docstring).

    Args:
        state: ``patch_embed.*``, ``cls_token``, ``pos_embed``, ``blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,
            mlp.fc2}``, ``norm``; keys under :data:`TIMM_NON_BACKBONE` are dropped.
        source: name used in error messages.

    Raises:
        CheckpointError: LayerScale keys (a DINOv2 checkpoint), keys no rule maps, or no CLS token (listed).
    """
    backbone = {k: v for k, v in state.items() if not k.startswith(tuple(TIMM_NON_BACKBONE))}
    layerscale = [k for k in backbone if _DV2_LS_RE.match(k)]
    if layerscale:
        raise _fail(source, "LayerScale keys in an MAE/timm-named backbone (use dinov2_to_hf)", layerscale)
    out = dinov2_to_hf(backbone, source)
    if "embeddings.cls_token" not in out:
        raise _fail(source, "an MAE/timm backbone needs cls_token; found keys", backbone)
    dim, dtype = out["embeddings.cls_token"].shape[-1], out["embeddings.cls_token"].dtype
    for i in sorted({m.group(1) for k in out if (m := _HF_BLOCK_RE.match(k))}, key=int):
        for ls in _LAYER_SCALE:
            out[f"encoder.layer.{i}.{ls}"] = torch.ones(dim, dtype=dtype)
    out["embeddings.mask_token"] = torch.zeros(1, dim, dtype=dtype)
    return out


def hf_to_timm(state: Mapping[str, torch.Tensor], source: str | Path = "<state_dict>") -> dict[str, torch.Tensor]:
    """Released (or 5.x in-memory) HF naming -> MAE / timm naming (inverse of :func:`timm_to_hf`).

    Raises:
        CheckpointError: LayerScale factors other than 1 (the model is not a plain MAE/timm ViT), or keys no rule
            maps (listed).
    """
    dv2 = hf_to_dinov2(state, source)
    gammas = [k for k in dv2 if _DV2_LS_RE.match(k)]
    not_one = [k for k in gammas if not bool(torch.all(dv2[k] == 1))]
    if not_one:
        raise _fail(source, "LayerScale factors other than 1 have no MAE/timm name (that ViT has no LayerScale)",
                    not_one)
    return {k: v for k, v in dv2.items() if k not in set(gammas) | {"mask_token"}}


def dinov2_or_timm_to_hf(
    state: Mapping[str, torch.Tensor], source: str | Path = "<state_dict>"
) -> dict[str, torch.Tensor]:
    """Convert a ``patch_embed.proj.weight``-style state: DINOv2 naming when it has LayerScale keys, else MAE/timm."""
    state = normalize_block_chunks(state)
    return dinov2_to_hf(state, source) if any(_DV2_LS_RE.match(k) for k in state) else timm_to_hf(state, source)


def memory_to_released(
    state: Mapping[str, torch.Tensor], source: str | Path = "<state_dict>"
) -> dict[str, torch.Tensor]:
    """transformers in-memory naming (4.x or 5.x) -> released HF naming; released keys pass through unchanged."""
    inv = _invert(_MEMORY_RENAMES)
    out, used = _join_fused(state, _HF_BLOCK_RE, _MEMORY_FUSED, "encoder.layer.{i}.{local}", source)
    for key, value in state.items():
        if key in used:
            continue
        m = _HF_BLOCK_RE.match(key)
        new = _rename_block_param(m.group(2), inv, {}) if m else None
        out[f"encoder.layer.{m.group(1)}.{new}" if new else key] = value
    return out


def released_to_memory(
    state: Mapping[str, torch.Tensor], memory_keys: Iterable[str], source: str | Path = "<state_dict>"
) -> dict[str, torch.Tensor]:
    """Released HF naming -> the naming of a given in-memory model (identity for 4.x-style models).

    Args:
        state: released-naming state dict (5.x in-memory names are accepted too).
        memory_keys: ``model.state_dict().keys()`` of the target transformers model.
        source: name used in error messages.

    Returns:
        state dict keyed like the target model (missing/unexpected keys are left for the caller's strict check).
    """
    memory_keys = set(memory_keys)
    state = memory_to_released(state, source)
    split, used = _split_fused(state, _HF_BLOCK_RE, _MEMORY_FUSED, "encoder.layer.{i}.{local}")
    out: dict[str, torch.Tensor] = {}
    if split and set(split) <= memory_keys:
        out.update(split)
    else:
        used = set()
    for key, value in state.items():
        if key in used:
            continue
        m = _HF_BLOCK_RE.match(key)
        new = _rename_block_param(m.group(2), _MEMORY_RENAMES, {}) if m else None
        candidate = f"encoder.layer.{m.group(1)}.{new}" if new else key
        out[candidate if candidate in memory_keys else key] = value
    return out

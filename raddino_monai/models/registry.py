"""Named ViT architectures for :class:`~raddino_monai.models.backbone.RadDinoBackbone`.

Each name maps to a frozen :class:`BackboneSpec` whose fields are exactly the transformers ``Dinov2Config`` keyword
arguments (plus ``num_register_tokens``), so overrides use the Hugging Face names, e.g.
``create_backbone("raddino_vitb14", drop_path_rate=0.3, image_size=224)``. A spec with ``num_register_tokens > 0``
builds a ``Dinov2WithRegistersModel``; the choice is a dict lookup on that flag, not a name test.

Sources: [HF] microsoft/rad-dino ``config.json``; [DV2] facebookresearch/dinov2 ``hubconf.py`` /
``models/vision_transformer.py`` (``vit_small/base/large/giant2``: img_size 518, patch 14, LayerNorm eps 1e-6,
qkv_bias, LayerScale with a placeholder ``init_values=1.0``, ViT-g with ``ffn_layer="swiglufused"``); [MAE]
facebookresearch/mae ``models_mae.py`` (ViT-B/16 encoder of MAE and ECAMP).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from transformers import Dinov2Config, Dinov2WithRegistersConfig

__all__ = ["BackboneSpec", "BACKBONE_SPECS", "list_backbones", "get_backbone_spec", "build_hf_config"]


@dataclass(frozen=True)
class BackboneSpec:
    """Architecture of a DINOv2-style ViT, in transformers ``Dinov2Config`` vocabulary.

    Args:
        hidden_size: token width D.
        num_hidden_layers: number of transformer blocks L.
        num_attention_heads: attention heads per block.
        patch_size: square patch side in pixels.
        image_size: side the position embeddings are stored for (``(image_size // patch_size) ** 2 + 1`` tokens);
            other input sizes interpolate them (bicubic, exact size, as transformers ``Dinov2Model``).
        mlp_ratio: MLP hidden width / D (SwiGLU keeps 2/3 of it, rounded up to a multiple of 8).
        use_swiglu_ffn: SwiGLU feed-forward (DINOv2 ViT-g) instead of the GELU MLP.
        layerscale_value: LayerScale init; 1.0 is the hub placeholder of released checkpoints [DV2],
            1e-5 is DINOv2's from-scratch value (``student.layerscale``) [DV2].
        layer_norm_eps: LayerNorm epsilon.
        qkv_bias: biases on the query/key/value projections.
        drop_path_rate: stochastic depth, uniform over blocks (DINOv2 ``drop_path_uniform: true``) [DV2].
        num_register_tokens: DINOv2 register tokens (0 = plain ``Dinov2Model``).
        hidden_act: MLP activation.
        source: citation of the numbers above.
    """

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    patch_size: int
    image_size: int
    mlp_ratio: int = 4
    use_swiglu_ffn: bool = False
    layerscale_value: float = 1.0
    layer_norm_eps: float = 1e-6
    qkv_bias: bool = True
    drop_path_rate: float = 0.0
    num_register_tokens: int = 0
    hidden_act: str = "gelu"
    source: str = ""

    def replace(self, **overrides: Any) -> BackboneSpec:
        """Return a copy with some fields changed.

        Raises:
            ValueError: an override is not a field; the message lists the valid ones.
        """
        valid = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(f"Unknown backbone config override(s) {unknown}; valid keys are {sorted(valid)}.")
        return dataclasses.replace(self, **overrides)


# Tiny models are for CPU tests and smoke training from scratch. LayerScale starts at 1.0, not DINOv2's from-scratch
# 1e-5: at this width and a CPU batch of 16, 1e-5 makes the CLS output of every image identical at init and the DINO
# term collapses to the uniform distribution within ~30 iterations (issue 4 evidence, docs/ssl_evidence.md).
_TINY = dict(hidden_size=192, num_hidden_layers=6, num_attention_heads=3, image_size=112, layerscale_value=1.0)

BACKBONE_SPECS: dict[str, BackboneSpec] = {
    "raddino_vitb14": BackboneSpec(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        patch_size=14,
        image_size=518,
        source="[HF] microsoft/rad-dino config.json (Dinov2Model, 518 px, LayerScale, no registers)",
    ),
    "dinov2_vits14": BackboneSpec(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, patch_size=14, image_size=518,
        source="[DV2] hubconf dinov2_vits14 (vit_small)",
    ),
    "dinov2_vitb14": BackboneSpec(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, patch_size=14, image_size=518,
        source="[DV2] hubconf dinov2_vitb14 (vit_base)",
    ),
    "dinov2_vitl14": BackboneSpec(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, patch_size=14, image_size=518,
        source="[DV2] hubconf dinov2_vitl14 (vit_large)",
    ),
    "dinov2_vitg14": BackboneSpec(
        hidden_size=1536, num_hidden_layers=40, num_attention_heads=24, patch_size=14, image_size=518,
        use_swiglu_ffn=True,
        source="[DV2] hubconf dinov2_vitg14 (vit_giant2, ffn_layer=swiglufused)",
    ),
    # MAE / timm ViT-B/16 (ECAMP's encoder): no LayerScale in the original, so its weights load with LayerScale 1.0
    # (identity; the MAE/timm key table fills the factors with ones) and ECAMP keeps them frozen.
    "mae_vitb16": BackboneSpec(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, patch_size=16, image_size=224,
        layerscale_value=1.0,
        source="[MAE] facebookresearch/mae models_mae.py mae_vit_base_patch16 (224 px, patch 16, LayerNorm eps 1e-6, "
        "qkv_bias, no LayerScale); [ECAMP] ToniChopp/ECAMP Pre-training/module/model_ecamp.py ecamp()",
    ),
    "tiny_vit_p16": BackboneSpec(patch_size=16, source="raddino_monai CPU test model", **_TINY),
    "tiny_vit_p14": BackboneSpec(patch_size=14, source="raddino_monai CPU test model", **_TINY),
}

# Register tokens need the transformers "with registers" model family; keyed by "has registers".
_CONFIG_CLASSES: dict[bool, type] = {False: Dinov2Config, True: Dinov2WithRegistersConfig}
_MODEL_NAMES: dict[bool, str] = {False: "Dinov2Model", True: "Dinov2WithRegistersModel"}


def list_backbones() -> list[str]:
    """Names accepted by :func:`~raddino_monai.models.create_backbone`, sorted."""
    return sorted(BACKBONE_SPECS)


def get_backbone_spec(name: str, **overrides: Any) -> BackboneSpec:
    """Look up a named architecture and apply overrides.

    Args:
        name: one of :func:`list_backbones`.
        overrides: :class:`BackboneSpec` fields to change, e.g. ``drop_path_rate=0.3``.

    Raises:
        ValueError: unknown name or override; the message lists the valid values.
    """
    if name not in BACKBONE_SPECS:
        raise ValueError(f"Unknown backbone {name!r}; valid names are {list_backbones()}.")
    return BACKBONE_SPECS[name].replace(**overrides)


def build_hf_config(spec: BackboneSpec, attn_implementation: str = "sdpa") -> Dinov2Config:
    """Turn a spec into a transformers config (``Dinov2WithRegistersConfig`` when it has registers).

    Args:
        spec: architecture.
        attn_implementation: transformers attention backend (``"sdpa"`` or ``"eager"``).

    Returns:
        a ``Dinov2Config`` or ``Dinov2WithRegistersConfig`` with ``architectures`` set for ``AutoModel``.
    """
    kwargs = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "source"}
    has_registers = spec.num_register_tokens > 0
    if not has_registers:
        kwargs.pop("num_register_tokens")
    config_class = _CONFIG_CLASSES[has_registers]
    config = config_class(**kwargs)
    config.architectures = [_MODEL_NAMES[has_registers]]
    config._attn_implementation = attn_implementation
    return config

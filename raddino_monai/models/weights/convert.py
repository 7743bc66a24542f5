"""File-to-file conversions between HF folders, DINOv2-format backbones and DINO-head naming (used by
``tools/convert_weights.py``).

``raddino_monai.models.dino_head`` is imported inside the head functions: it imports ``weights.safe_load``, so a
module-level import here would be circular.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.registry import BACKBONE_SPECS, BackboneSpec, build_hf_config, get_backbone_spec
from raddino_monai.models.weights.head_file import dino_head_state_dict_to_released, load_dino_head
from raddino_monai.models.weights.dinov2_keys import hf_to_dinov2
from raddino_monai.models.weights.hf_folder import export_hf_folder
from raddino_monai.models.weights.load import load_released_state, read_backbone_weights
from raddino_monai.models.weights.safe_load import CheckpointError

__all__ = ["infer_spec", "convert_to_dinov2", "convert_to_hf", "convert_head", "HEAD_NAMINGS"]


def infer_spec(state: dict[str, torch.Tensor], source: str | Path = "<state_dict>") -> BackboneSpec:
    """Architecture of a released-naming backbone state dict.

    Width, depth, patch size, native image size, SwiGLU and register count come from the tensor shapes; the number
    of heads (not visible in the weights) from the first registered architecture of the same width.

    Raises:
        CheckpointError: no registered architecture has that width (pass ``arch`` explicitly).
    """
    pos = state["embeddings.position_embeddings"]
    hidden, patch = int(pos.shape[-1]), int(state["embeddings.patch_embeddings.projection.weight"].shape[-1])
    layers = len({k.split(".")[2] for k in state if k.startswith("encoder.layer.")})
    same_width = [name for name in sorted(BACKBONE_SPECS) if BACKBONE_SPECS[name].hidden_size == hidden]
    if not same_width:
        raise CheckpointError(f"{source}: no registered architecture is {hidden} wide; pass arch= explicitly.")
    registers = state.get("embeddings.register_tokens")
    return get_backbone_spec(
        same_width[0],
        num_hidden_layers=layers,
        patch_size=patch,
        image_size=int(round((pos.shape[1] - 1) ** 0.5)) * patch,
        use_swiglu_ffn=any(".mlp.weights_in." in k for k in state),
        num_register_tokens=0 if registers is None else int(registers.shape[1]),
    )


def convert_to_dinov2(src: str | Path, out: str | Path, prefix: str | None = None) -> Path:
    """Any supported backbone source (HF folder, HF- or DINOv2-named file) -> DINOv2-named ``.safetensors``.

    Args:
        src: HF folder or checkpoint file.
        out: output file (loads strictly into the facebookresearch/dinov2 model of the same architecture).
        prefix: backbone key prefix inside ``src`` (auto when unique).

    Returns:
        ``out``.
    """
    state, _ = read_backbone_weights(src, prefix)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in hf_to_dinov2(state, src).items()}, str(out), metadata={"format": "pt"})
    return out


def convert_to_hf(
    src: str | Path,
    out_dir: str | Path,
    arch: str | None = None,
    prefix: str | None = None,
    preprocessor_config: dict[str, Any] | None = None,
) -> Path:
    """Any supported backbone source -> HF folder that ``transformers.AutoModel.from_pretrained`` loads.

    Args:
        src: DINOv2 ``.pth``/``.safetensors`` (e.g. RAD-DINO ``backbone_compatible.safetensors``), training
            checkpoint, or HF folder.
        out_dir: output folder.
        arch: registered architecture; ``None`` infers it from the tensor shapes (:func:`infer_spec`).
        prefix: backbone key prefix inside ``src``.
        preprocessor_config: written as ``preprocessor_config.json``; ``None`` = RAD-DINO values.

    Returns:
        ``out_dir``.
    """
    state, _ = read_backbone_weights(src, prefix)
    spec = infer_spec(state, src) if arch is None else get_backbone_spec(arch)
    backbone = RadDinoBackbone(build_hf_config(spec))
    load_released_state(backbone, state, src)
    return export_hf_folder(backbone, out_dir, preprocessor_config)


def _released_head(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return dino_head_state_dict_to_released(state)


def _parametrized_head(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return dict(state)


#: DINO-head output naming -> converter from ``DINOHead.state_dict()``: ``released`` = DINOv2 / RAD-DINO
#: ``dino_head.safetensors`` (``last_layer.weight_g/weight_v``); ``parametrized`` = ``torch.nn.utils.parametrizations``
HEAD_NAMINGS = {"released": _released_head, "parametrized": _parametrized_head}


def convert_head(src: str | Path, out: str | Path, naming: str = "released", prefix: str | None = None) -> Path:
    """Re-save a DINO head (RAD-DINO ``dino_head.safetensors``, a training checkpoint's ``teacher.dino_head.*``...)
    as a plain ``.safetensors`` in the chosen naming, after a strict load into ``DINOHead``.

    Args:
        src: checkpoint file.
        out: output ``.safetensors``.
        naming: one of :data:`HEAD_NAMINGS`.
        prefix: head key prefix inside ``src`` (auto when unique).

    Raises:
        ValueError: unknown naming (valid values listed).
        CheckpointError: no head, ambiguous prefix, or keys/shapes that do not fit.
    """
    if naming not in HEAD_NAMINGS:
        raise ValueError(f"convert_head: naming must be one of {list(HEAD_NAMINGS)}, got {naming!r}.")
    head = load_dino_head(src, prefix=prefix)
    state = HEAD_NAMINGS[naming]({k: v.detach().contiguous() for k, v in head.state_dict().items()})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"format": "pt"})
    return out

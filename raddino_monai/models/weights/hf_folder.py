"""Hugging Face model folders: read (``config.json`` + ``model.safetensors``) and export.

Exported folders load with plain ``transformers.AutoModel.from_pretrained(folder)`` (4.x and 5.x): the weights are
written in the released naming (``attention.attention.query``, ``layer_scale1.lambda1``, ...), the config with
``architectures`` set, and a ``preprocessor_config.json`` for ``AutoImageProcessor``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file

from raddino_monai.models.weights.dinov2_keys import hf_to_dinov2, memory_to_released
from raddino_monai.models.weights.safe_load import CheckpointError, load_checkpoint, read_json

if TYPE_CHECKING:
    from raddino_monai.models.backbone import RadDinoBackbone

__all__ = [
    "HF_WEIGHT_FILES",
    "is_hf_folder",
    "read_hf_folder",
    "raddino_preprocessor_config",
    "export_hf_folder",
    "export_dinov2_safetensors",
    "released_state_dict",
]

# file names transformers uses for weights inside a model folder, in order of preference
HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def is_hf_folder(path: str | Path) -> bool:
    """True for a directory with ``config.json`` and one of :data:`HF_WEIGHT_FILES`."""
    path = Path(path)
    return path.is_dir() and (path / "config.json").is_file() and any((path / f).is_file() for f in HF_WEIGHT_FILES)


def read_hf_folder(folder: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read an HF model folder without building a model.

    Args:
        folder: directory with ``config.json`` and ``model.safetensors`` (or a sharded index, or
            ``pytorch_model.bin`` read with ``weights_only=True``).

    Returns:
        ``(config dict, state dict)``; the state dict may carry a ``"dinov2."``-style prefix if the folder holds a
        task model, which callers strip with :func:`~raddino_monai.models.weights.safe_load.select_prefix`.

    Raises:
        CheckpointError: missing ``config.json`` or weights, unreadable files.
    """
    folder = Path(folder)
    if not is_hf_folder(folder):
        raise CheckpointError(
            f"{folder} is not a Hugging Face model folder: expected config.json and one of {list(HF_WEIGHT_FILES)}."
        )
    config = read_json(folder / "config.json")
    weights = next(folder / f for f in HF_WEIGHT_FILES if (folder / f).is_file())
    if weights.name.endswith(".index.json"):
        weight_map = read_json(weights).get("weight_map", {})
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(weight_map.values())):
            state.update(load_checkpoint(folder / shard))
        return config, state
    return config, load_checkpoint(weights)


def raddino_preprocessor_config(image_size: int) -> dict[str, Any]:
    """``BitImageProcessor`` settings of microsoft/rad-dino ([HF] preprocessor_config.json), for ``image_size``.

    The single source is :class:`raddino_monai.transforms.preprocess.RadDinoPreprocessConfig` (the constants our
    ``raddino_preprocessing`` uses): short side -> ``image_size`` bicubic (``resample=3``), centre crop
    ``image_size``, ``x / 255``, mean 0.5307 / std 0.2583 on all channels, convert to RGB. 518 gives the released
    file's values.

    Args:
        image_size: resize target and crop side (the backbone's native ``image_size``).

    Returns:
        JSON-serialisable dict for ``preprocessor_config.json``.
    """
    from raddino_monai.transforms.preprocess import RadDinoPreprocessConfig

    return RadDinoPreprocessConfig(size=int(image_size), crop_size=int(image_size)).to_hf_preprocessor_config()


def released_state_dict(backbone: RadDinoBackbone) -> dict[str, torch.Tensor]:
    """The backbone's weights in released HF naming (contiguous CPU copies), whatever transformers version runs."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in backbone.model.state_dict().items()}
    return memory_to_released(state, "backbone")


def export_hf_folder(
    backbone: RadDinoBackbone, out_dir: str | Path, preprocessor_config: dict[str, Any] | None = None
) -> Path:
    """Write ``config.json``, ``model.safetensors`` (released naming) and ``preprocessor_config.json``.

    Args:
        backbone: model to export.
        out_dir: target folder (created).
        preprocessor_config: ``BitImageProcessor`` dict; ``None`` writes :func:`raddino_preprocessor_config` for the
            backbone's ``image_size``.

    Returns:
        ``out_dir`` as a Path.

    Example::

        >>> export_hf_folder(backbone, "out/rad-dino-ft")
        >>> AutoModel.from_pretrained("out/rad-dino-ft")  # plain transformers, no raddino_monai needed
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = backbone.model.config
    config.architectures = [type(backbone.model).__name__]
    config.save_pretrained(str(out_dir))
    save_file(released_state_dict(backbone), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    if preprocessor_config is None:
        preprocessor_config = raddino_preprocessor_config(int(config.image_size))
    (out_dir / "preprocessor_config.json").write_text(json.dumps(preprocessor_config, indent=2) + "\n")
    return out_dir


def export_dinov2_safetensors(backbone: RadDinoBackbone, path: str | Path) -> Path:
    """Write the backbone in DINOv2 naming (like RAD-DINO's ``backbone_compatible.safetensors``).

    The file loads with ``strict=True`` into the matching facebookresearch/dinov2 hub model
    (``dinov2_vitb14`` for RAD-DINO).

    Args:
        backbone: model to export.
        path: output ``.safetensors`` file (parent folders are created).

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in hf_to_dinov2(released_state_dict(backbone), "backbone").items()}
    save_file(state, str(path), metadata={"format": "pt"})
    return path

"""Frozen-encoder features for report generation: which encoder, extraction once to a file, tokens for the projector.

The encoder is referenced, never trained: :class:`EncoderReference` names its architecture, local weights (or the
seed of a random-init baseline) and preprocessing, and is saved with every trained report model. Features are the
encoder's normed last-layer patch tokens (``forward_features(x)["patch_tokens"]``, 1369 x 768 for ViT-B/14 at
518 px), optionally after the CLS token. They are extracted once with the public
:func:`raddino_monai.inference.extract_embeddings` (``pooling=("cls", "patch")``; batched, resumable) and read back
as ``(N, T, D)`` token arrays; the patch grid ``(D, h, w)`` flattens back to the same row-major token order as
``patch_tokens``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["EncoderReference", "feature_tokens", "cache_features", "load_feature_tokens"]


@dataclass
class EncoderReference:
    """The frozen encoder a report model reads.

    Args:
        arch: a :func:`raddino_monai.models.list_backbones` name.
        weights: local weights (HF folder or checkpoint file); ``None`` = random init drawn with ``init_seed``. A
            relative path is read relative to the saved report-model folder.
        init_seed: seed of a random-init encoder (same weights in every run,
            :func:`raddino_monai.evaluation.runners.load_encoder_backbone`).
        image_size: preprocessing side; ``None`` = the architecture's (518 for RAD-DINO).
        fit: ``raddino_preprocessing`` fit (``"crop"`` = the RAD-DINO processor).
    """

    arch: str = "raddino_vitb14"
    weights: str | None = None
    init_seed: int = 0
    image_size: int | None = None
    fit: str = "crop"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy."""
        return dataclasses.asdict(self)

    def build(self, base_dir: str | Path | None = None) -> torch.nn.Module:
        """The backbone, in eval mode with gradients off.

        Args:
            base_dir: folder that a relative ``weights`` path is relative to.
        """
        from raddino_monai.evaluation.runners import load_encoder_backbone

        weights = self.weights
        if weights is not None and base_dir is not None and not Path(weights).is_absolute():
            weights = str(Path(base_dir) / weights)
        backbone = load_encoder_backbone(f"{self.arch}:{weights}" if weights else self.arch, init_seed=self.init_seed)
        backbone.requires_grad_(False)
        return backbone.eval()


def feature_tokens(cls_token: torch.Tensor, patch_tokens: torch.Tensor, use_cls: bool) -> torch.Tensor:
    """Tokens the projector reads.

    Args:
        cls_token: ``(B, D)``.
        patch_tokens: ``(B, N, D)``.
        use_cls: prepend the CLS token.

    Returns:
        ``(B, N + use_cls, D)``.
    """
    return torch.cat([cls_token[:, None], patch_tokens], dim=1) if use_cls else patch_tokens


def cache_features(
    inputs: str | Path | Sequence[str | Path],
    out_path: str | Path,
    encoder: EncoderReference,
    *,
    batch_size: int = 16,
    bf16: bool = False,
    split: str | Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Path:
    """Extract CLS + patch-grid features once (resumable) with the public extraction API.

    Args:
        inputs: datalist, image folder or list of images (see ``extract_embeddings``).
        out_path: ``.npz`` or ``.safetensors`` output.
        encoder: the encoder to run.
        batch_size: images per forward pass.
        bf16: bfloat16 autocast for the encoder.
        split: datalist section(s).
        device: torch device.
        progress: show a progress bar.

    Returns:
        ``out_path``.
    """
    from raddino_monai.inference import extract_embeddings

    return extract_embeddings(
        inputs, out_path, backbone=encoder.build(), batch_size=batch_size, device=device, bf16=bf16,
        pooling=("cls", "patch"), image_size=encoder.image_size, fit=encoder.fit, split=split, progress=progress,
    )


def load_feature_tokens(path: str | Path, use_cls: bool) -> tuple[list[str], np.ndarray]:
    """Read a feature file written by :func:`cache_features` as projector tokens.

    Args:
        path: ``.npz`` / ``.safetensors`` from ``extract_embeddings`` with ``"patch"`` (and ``"cls"`` if
            ``use_cls``).
        use_cls: prepend the CLS token.

    Returns:
        ``(ids, tokens)`` with tokens ``(N, h * w + use_cls, D)`` float32.

    Raises:
        KeyError: the file lacks the ``patch`` (or ``cls``) array (the arrays found are listed).
    """
    from raddino_monai.inference import load_embeddings

    data = load_embeddings(path)
    needed = ["patch"] + (["cls"] if use_cls else [])
    missing = [k for k in needed if k not in data]
    if missing:
        found = sorted(k for k in data if k not in ("ids", "meta"))
        raise KeyError(f"{path}: feature file lacks {missing} (found {found}); extract with pooling=('cls', 'patch').")
    grid = torch.from_numpy(np.ascontiguousarray(data["patch"], dtype=np.float32))
    patches = grid.flatten(2).transpose(1, 2)  # (N, D, h, w) -> (N, h*w, D), the order of patch_tokens
    cls = torch.from_numpy(np.asarray(data["cls"], dtype=np.float32)) if use_cls else patches[:, 0]
    return list(data["ids"]), feature_tokens(cls, patches, use_cls).contiguous().numpy()

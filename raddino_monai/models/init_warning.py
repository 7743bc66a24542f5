"""A loud warning when a full-size RAD-DINO recipe starts from random weights.

RAD-DINO is *continual* pretraining: ViT-B/14 at 518 px initialised from DINOv2 (LVD-142M) weights ([CARD] "Finetuned
from model: dinov2-base"; [PAPER]). Started from random weights, the same recipe is a different, far more expensive
experiment (DINOv2 trains from scratch on 142 M images) and a CPU or small-data run will not learn RAD-DINO features.
Tiny test architectures (``tiny_vit_*``) and explicit weights never warn.
"""

from __future__ import annotations

import logging
import os
import warnings

from raddino_monai.models.registry import get_backbone_spec

__all__ = ["RandomInitWarning", "warn_if_random_init"]

logger = logging.getLogger(__name__)

#: the smallest backbone that is a real RAD-DINO / DINOv2 recipe rather than a test model (ViT-B: 768 wide, 12 blocks)
_FULL_SIZE = (768, 12)


class RandomInitWarning(UserWarning):
    """A full-size backbone is about to be pretrained from random weights."""


def warn_if_random_init(
    name: str, weights: str | os.PathLike[str] | None, image_size: int | None = None
) -> bool:
    """Warn (``RandomInitWarning`` + a log record) if a ViT-B-or-larger backbone starts without weights.

    Args:
        name: registered architecture (e.g. ``"raddino_vitb14"``).
        weights: the weights it will be loaded from; ``None`` means random init.
        image_size: training resolution, named in the message (default: the architecture's).

    Returns:
        True if it warned.

    Example:
        >>> warn_if_random_init("tiny_vit_p16", None)
        False
    """
    if weights is not None:
        return False
    spec = get_backbone_spec(name)
    if (spec.hidden_size, spec.num_hidden_layers) < _FULL_SIZE:
        return False
    size = int(image_size or spec.image_size)
    message = (
        f"{name} ({spec.hidden_size} wide, {spec.num_hidden_layers} blocks, patch {spec.patch_size}, {size} px) starts "
        "from RANDOM weights: RAD-DINO continues DINOv2 pretraining from released weights. Pass a local checkpoint "
        "(bundle: --backbone_weights /models/rad-dino/backbone_compatible.safetensors or a dinov2_vitb14 .pth) "
        "unless training from scratch is what you intend."
    )
    logger.warning(message)
    warnings.warn(message, RandomInitWarning, stacklevel=2)
    return True

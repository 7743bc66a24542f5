"""Self-supervised losses of DINOv2 / RAD-DINO, one per module (lightly-style API).

Losses take schedule values (the teacher temperature) as call arguments and keep their running state (the softmax
centre) in buffers; every collective is guarded, so they work with and without :mod:`torch.distributed`.

* :class:`DINOClsTokenLoss` (:mod:`.dino_clstoken`): CLS-token cross-view cross-entropy.
* :class:`IBOTPatchLoss` (:mod:`.ibot_patch`): masked-patch cross-entropy.
* :class:`KoLeoLoss` (:mod:`.koleo`): nearest-neighbour spreading regulariser.
* :class:`ConVIRTLoss` (:mod:`.convirt`): bidirectional image-text InfoNCE of ConVIRT (language-supervised baseline),
  negatives gathered from all ranks with gradients.
* :mod:`.centering`: softmax centering and Sinkhorn-Knopp teacher targets (``CENTERING_REGISTRY``).
* :class:`TeacherTargetLoss` (:mod:`.teacher_target`): the shared base of the DINO and iBOT losses.

ECAMP (masked image modelling with report supervision) and its segmentation recipe:

* :class:`MaskedPixelLoss` (:mod:`.masked_pixel`): MSE on masked patches (MAE / ECAMP).
* :class:`SuperResolutionLoss` (:mod:`.super_resolution`): region-weighted MSE of the super-resolved image.
* :class:`WeightedMLMLoss` (:mod:`.weighted_mlm`): per-token weighted masked-language-model cross-entropy.
* :class:`MixedFocalDiceLoss` (:mod:`.mixed_focal_dice`): ``10 * Focal - log Dice`` for segmentation heads.
"""

from __future__ import annotations

from raddino_monai.losses.centering import (
    CENTERING_REGISTRY,
    SinkhornKnoppCentering,
    SoftmaxCentering,
    TeacherCentering,
    build_centering,
    sinkhorn_knopp,
)
from raddino_monai.losses.convirt import ConVIRTLoss, gather_with_grad
from raddino_monai.losses.dino_clstoken import DINOClsTokenLoss
from raddino_monai.losses.ibot_patch import IBOTPatchLoss
from raddino_monai.losses.koleo import KoLeoLoss
from raddino_monai.losses.teacher_target import TeacherTargetLoss
from raddino_monai.losses.masked_pixel import MaskedPixelLoss
from raddino_monai.losses.mixed_focal_dice import MixedFocalDiceLoss
from raddino_monai.losses.super_resolution import SuperResolutionLoss
from raddino_monai.losses.weighted_mlm import WeightedMLMLoss

__all__ = [
    "CENTERING_REGISTRY",
    "ConVIRTLoss",
    "DINOClsTokenLoss",
    "IBOTPatchLoss",
    "KoLeoLoss",
    "MaskedPixelLoss",
    "MixedFocalDiceLoss",
    "SuperResolutionLoss",
    "WeightedMLMLoss",
    "SinkhornKnoppCentering",
    "SoftmaxCentering",
    "TeacherCentering",
    "TeacherTargetLoss",
    "build_centering",
    "gather_with_grad",
    "sinkhorn_knopp",
]

"""ECAMP's segmentation decoder: a per-token linear map, then four conv + up-sampling stages (x16).

[ECAMP] ToniChopp/ECAMP @ d02d16d ``Fine-tuning/Segmentation/models_vit.py``:

* ``VisionTransformer.forward_features`` (lines 42-63): ``seg_head = Linear(D, p * p * D / 2**(2 * sample_rate))``
  on each patch token, rearranged ``"b (h w) (p1 p2 c) -> b c (h p1) (w p2)"`` with ``p1 = p2 = p / 2**sample_rate``
  (= 1 for patch 16 and ``sample_rate=4``, so the map stays ``(B, D, h, w)``). ``seg_head`` trains; the ViT is
  frozen (``train.py`` lines 126-131).
* ``Decoder`` (lines 70-106): four stages ``Conv3x3 -> BatchNorm -> ReLU -> Upsample(x2, bilinear,
  align_corners=True)`` with widths 512, 256, 128, 64, then ``Conv3x3`` to the output channels: 14 x 14 -> 224 x 224
  for ViT-B/16 at 224 px.

Differences here: the head receives the frozen backbone's patch map *after* its final LayerNorm (the package's
frozen-feature contract, ``forward_intermediates(norm=True)``; ECAMP deletes ``norm`` and uses the raw last block),
and :class:`~raddino_monai.evaluation.segmentation_model.FrozenSegmentationModel` resizes the ``16 * r * h`` output
to the input size (exact for patch 16; patch 14 gives ``16/14`` x the input, resized bilinearly). ECAMP trains it with
``MixedLoss`` (``tools/segment.py --loss ecamp_mixed``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ECAMPUpsampleHead"]


class ECAMPUpsampleHead(nn.Module):
    """``seg_head`` + four ``Conv-BN-ReLU-Upsample(x2)`` stages + output conv on the last feature map.

    Args:
        in_channels: backbone width D.
        num_classes: output channels (ECAMP: 1, sigmoid).
        num_inputs: feature maps passed by the model; only the last is used.
        features: stage widths ([ECAMP] ``decode_features=[512, 256, 128, 64]``).
        token_upsample: ``p1 = p2`` of ECAMP's rearrange (``patch_size / 2**sample_rate``; [ECAMP] 1).

    Example:
        >>> head = ECAMPUpsampleHead(16, 2, features=(8, 8, 8, 8))
        >>> head([torch.zeros(1, 16, 3, 3)]).shape
        torch.Size([1, 2, 48, 48])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        num_inputs: int = 1,
        features: Sequence[int] = (512, 256, 128, 64),
        token_upsample: int = 1,
    ) -> None:
        super().__init__()
        if len(features) != 4 or token_upsample < 1:
            raise ValueError(f"ECAMPUpsampleHead needs 4 stage widths and token_upsample >= 1; got {list(features)}, "
                             f"{token_upsample}.")
        self.num_inputs = num_inputs
        self.in_channels = in_channels
        self.token_upsample = token_upsample
        self.seg_head = nn.Linear(in_channels, in_channels * token_upsample**2)
        stages = []
        width = in_channels
        for out in features:
            stages.append(nn.Sequential(
                nn.Conv2d(width, out, 3, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            ))
            width = out
        self.stages = nn.Sequential(*stages)
        self.final_out = nn.Conv2d(width, num_classes, 3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """``[..., (B, D, h, w)] -> (B, C, 16 r h, 16 r w)``."""
        x = features[-1]
        b, d, h, w = x.shape
        r = self.token_upsample
        tokens = self.seg_head(x.flatten(2).transpose(1, 2))  # (B, h*w, r*r*D), channels fastest as (p1 p2 c)
        x = tokens.reshape(b, h, w, r, r, d).permute(0, 5, 1, 3, 2, 4).reshape(b, d, h * r, w * r)
        return self.final_out(self.stages(x))

"""ECAMP's network pieces (Wang et al., arXiv 2312.13316; [ECAMP] ToniChopp/ECAMP ``Pre-training/module/``).

* :mod:`.mae_masking`: MAE random masking, visible-only encoding on the backbone, patchify / unpatchify;
* :mod:`.mae_decoder`: the light MAE pixel decoder;
* :mod:`.sr_head`: the interpolate + conv super-resolution head, the attention-box region map;
* :mod:`.context_fusion`: the fusion layer (text attends to the visible patches and their mean);
* :mod:`.report_decoder`: the image-conditioned BERT MLM;
* :mod:`.model`: :class:`ECAMPConfig`, :class:`ECAMPModel` (the branches' predictions), :func:`build_ecamp_model`.

The losses and their sum are composed by :class:`raddino_monai.ssl.ecamp_meta_arch.ECAMPMetaArch`.

Example::

    >>> from raddino_monai.models.ecamp import build_ecamp_model
    >>> model = build_ecamp_model("mae_vitb16", vocab_size=30000)  # doctest: +SKIP
"""

from __future__ import annotations

from raddino_monai.models.ecamp.context_fusion import ContextFusionLayer, ImageCrossAttention, additive_padding_mask
from raddino_monai.models.ecamp.mae_decoder import MAEDecoder, ViTBlock, mae_init_
from raddino_monai.models.ecamp.mae_masking import PatchMasking, encode_visible, patchify, random_masking, unpatchify
from raddino_monai.models.ecamp.model import (
    ECAMP_BATCH_KEYS,
    ECAMP_OUTPUT_KEYS,
    ECAMPConfig,
    ECAMPModel,
    build_ecamp_model,
    init_sincos_position_embedding,
)
from raddino_monai.models.ecamp.report_decoder import ReportDecoder, build_report_decoder, ecamp_bert_config
from raddino_monai.models.ecamp.sr_head import InterpolateConvSR, box_region_map

__all__ = [
    "ECAMP_BATCH_KEYS",
    "ECAMP_OUTPUT_KEYS",
    "ECAMPConfig",
    "ECAMPModel",
    "build_ecamp_model",
    "init_sincos_position_embedding",
    "MAEDecoder",
    "ViTBlock",
    "mae_init_",
    "PatchMasking",
    "random_masking",
    "encode_visible",
    "patchify",
    "unpatchify",
    "InterpolateConvSR",
    "box_region_map",
    "ContextFusionLayer",
    "ImageCrossAttention",
    "additive_padding_mask",
    "ReportDecoder",
    "build_report_decoder",
    "ecamp_bert_config",
]

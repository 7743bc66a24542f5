"""ECAMP pretraining network: masked image modelling + context-guided super-resolution + entity-aware MLM branches.

[ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/model_ecamp.py`` (``ECAMP.forward``, lines 303-325):

1. the batch image (448 px, dataset-normalised) is resized bicubically to the 224 px encoder input;
2. MAE random masking (75 %) and the ViT on the visible patches (:mod:`.mae_masking`);
3. the MAE decoder predicts every patch (:mod:`.mae_decoder`) -> MIM loss on the masked patches;
4. that prediction, back in image form, is up-sampled by the SR head (:mod:`.sr_head`) and compared with
   the 448 px image, inside the attention region when a weight map is given -> SR loss;
5. the encoder output conditions the report decoder (:mod:`.report_decoder`) -> weighted MLM loss.

This module returns the branches' predictions and targets; the three losses and their sum ([ECAMP]
``main_pretrain.py`` line 147, ``loss = mim_loss + res_loss + mlm_loss``) are composed by the meta-architecture
:class:`raddino_monai.ssl.ecamp_meta_arch.ECAMPMetaArch`.

Only the image encoder (``ECAMPModel.backbone``, a :class:`RadDinoBackbone`) is kept for evaluation; export it with
:func:`raddino_monai.models.export_hf_folder`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.factory import create_backbone
from raddino_monai.models.ecamp.mae_decoder import MAEDecoder
from raddino_monai.models.ecamp.mae_masking import encode_visible, patchify, random_masking, unpatchify
from raddino_monai.models.ecamp.report_decoder import ReportDecoder, build_report_decoder
from raddino_monai.models.sincos import sincos_2d_position_embedding
from raddino_monai.models.ecamp.sr_head import InterpolateConvSR
from raddino_monai.transforms.config_fields import config_from_fields

__all__ = ["ECAMPConfig", "ECAMPModel", "ECAMP_BATCH_KEYS", "ECAMP_OUTPUT_KEYS", "build_ecamp_model",
           "init_sincos_position_embedding"]

#: keys :meth:`ECAMPModel.forward` reads (``sr_region`` and ``mae_noise`` are optional)
ECAMP_BATCH_KEYS: tuple[str, ...] = ("image", "input_ids", "labels", "attention_mask", "token_type_ids",
                                     "mlm_weights", "sr_region", "mae_noise")
_REQUIRED_KEYS = ("image", "input_ids", "attention_mask", "token_type_ids")  # the losses also read labels, weights
#: what :meth:`ECAMPModel.forward` returns
ECAMP_OUTPUT_KEYS: tuple[str, ...] = ("pred", "target", "mask", "sr", "sr_target", "logits", "cross_attention")
#: MAE's variance epsilon of per-patch normalisation ([MAE] ``forward_loss`` 1e-6)
_NORM_PIX_EPS = 1e-6


@dataclass
class ECAMPConfig:
    """ECAMP recipe, network side. ``[ECAMP]`` = ToniChopp/ECAMP @ d02d16d ``Pre-training/``. The loss weights and
    reductions are :class:`raddino_monai.ssl.ecamp_config.ECAMPLossConfig`.

    Args:
        mask_ratio: fraction of patches removed (``run.sh --mask_ratio 0.75``).
        input_size: encoder input side (``model_ecamp.py`` line 318: bicubic ``Resize([224, 224])``).
        resize_antialias: antialias the bicubic down-sizing to ``input_size``. ECAMP resizes tensors with
            torchvision 0.14.1 (``environment.yml``), whose tensor ``Resize`` does not antialias: False.
        sr_scale: SR up-sampling factor; the batch image is ``sr_scale * input_size`` px (``scale_factor=2``:
            448 px from ``RandomResizedCrop(448)`` in ``pretrain_datasets.py``).
        decoder_dim: MAE decoder width (``ecamp()``: ``decoder_embed_dim=512``).
        decoder_depth: MAE decoder blocks (``ecamp()``: 4; MAE's own ViT-B recipe uses 8).
        decoder_heads: MAE decoder heads (``ecamp()``: 16).
        decoder_mlp_ratio: MAE decoder MLP ratio (``ecamp()``: 4).
        sr_final_relu: ECAMP's ReLU at the end of the SR head (``model_ecamp.py`` line 44).
        norm_pix_loss: per-patch normalised MIM targets. ``run.sh`` passes ``--norm_pix_loss`` but
            ``forward_loss`` never reads it, so ECAMP trains on plain targets: False. True = MAE's recipe; the SR head
            then gets the prediction mapped back to pixels with each target patch's mean and std (our choice, no
            upstream counterpart).
        train_pos_embed: train the encoder position embeddings (ECAMP/MAE freeze their fixed sin-cos table,
            ``model_ecamp.py`` line 64: False).
        train_layerscale: train the HF Dinov2 LayerScale factors (MAE's ViT has none; they stay at their loaded /
            initial value, 1.0 for ``mae_vitb16``: False).
    """

    mask_ratio: float = 0.75
    input_size: int = 224
    resize_antialias: bool = False
    sr_scale: int = 2
    decoder_dim: int = 512
    decoder_depth: int = 4
    decoder_heads: int = 16
    decoder_mlp_ratio: float = 4.0
    norm_pix_loss: bool = False
    sr_final_relu: bool = True
    train_pos_embed: bool = False
    train_layerscale: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.mask_ratio < 1.0:
            problems.append(f"mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if self.input_size < 1 or self.sr_scale < 1:
            problems.append(f"need input_size >= 1 and sr_scale >= 1, got {self.input_size}, {self.sr_scale}")
        if problems:
            raise ValueError("Invalid ECAMPConfig: " + "; ".join(problems) + ".")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> ECAMPConfig:
        """Build from a mapping (bundle JSON); unknown keys raise ``ValueError`` listing the valid ones."""
        return config_from_fields(cls, dict(values or {}))


def init_sincos_position_embedding(backbone: RadDinoBackbone) -> None:
    """Overwrite the backbone's position embeddings with MAE's fixed 2-D sin-cos table (CLS slot zero).

    For a randomly initialised encoder, as ECAMP's ``initialize_weights`` does before loading MAE weights
    ([ECAMP] ``model_ecamp.py`` lines 105-109). The table covers the stored grid (``image_size // patch_size``).
    """
    pos = backbone.model.embeddings.position_embeddings
    side = int(round((pos.shape[1] - 1) ** 0.5))
    with torch.no_grad():
        pos.copy_(sincos_2d_position_embedding(pos.shape[-1], side, side)[None].to(pos))


class ECAMPModel(nn.Module):
    """ECAMP's three branches around one ViT encoder; ``forward(batch)`` returns their predictions and targets.

    Args:
        backbone: the image encoder (any registry ViT; ECAMP: ViT-B/16 = ``mae_vitb16``).
        report_decoder: :class:`~raddino_monai.models.ecamp.report_decoder.ReportDecoder` for this encoder's width.
        config: :class:`ECAMPConfig`.

    Attributes:
        backbone: the encoder to export for evaluation.
        decoder: MAE pixel decoder.
        super_res: SR head.
        report_decoder: image-conditioned BERT MLM.

    Raises:
        ValueError: the report decoder was built for another width, or ``input_size`` is not a multiple of the
            patch size.
    """

    def __init__(self, backbone: RadDinoBackbone, report_decoder: ReportDecoder, config: ECAMPConfig | None = None):
        super().__init__()
        self.config = cfg = config or ECAMPConfig()
        if report_decoder.image_proj.in_features != backbone.embed_dim:
            raise ValueError(f"the report decoder takes {report_decoder.image_proj.in_features}-wide image tokens; "
                             f"the backbone is {backbone.embed_dim} wide.")
        if cfg.input_size % backbone.patch_size:
            raise ValueError(f"input_size {cfg.input_size} is not a multiple of the patch size {backbone.patch_size}.")
        self.backbone = backbone
        self.in_chans = int(backbone.config.num_channels)
        self.decoder = MAEDecoder(backbone.embed_dim, backbone.patch_size, self.in_chans, cfg.decoder_dim,
                                  cfg.decoder_depth, cfg.decoder_heads, cfg.decoder_mlp_ratio)
        self.super_res = InterpolateConvSR(cfg.sr_scale, self.in_chans, final_relu=cfg.sr_final_relu)
        self.report_decoder = report_decoder
        embeddings = backbone.model.embeddings
        embeddings.position_embeddings.requires_grad_(cfg.train_pos_embed)
        for name, param in backbone.model.named_parameters():
            if "layer_scale" in name:
                param.requires_grad_(cfg.train_layerscale)
        if embeddings.mask_token is not None:  # iBOT's mask token: MAE drops masked patches instead
            embeddings.mask_token.requires_grad_(False)

    @property
    def target_size(self) -> int:
        """Side of the batch image (= SR target): ``sr_scale * input_size``."""
        return self.config.sr_scale * self.config.input_size

    def _check_batch(self, batch: Mapping[str, Any]) -> Tensor:
        missing = [k for k in _REQUIRED_KEYS if k not in batch]
        if missing:
            raise KeyError(f"ECAMP batch lacks {missing}; it needs {list(_REQUIRED_KEYS)} (optional: mae_noise), e.g. "
                           "from EntityAwareMLMd + default collation.")
        image = batch["image"]
        size = self.target_size
        if image.ndim != 4 or tuple(image.shape[1:]) != (self.in_chans, size, size):
            raise ValueError(f"batch['image'] must be (B, {self.in_chans}, {size}, {size}) (sr_scale * input_size); "
                             f"found {tuple(image.shape)}.")
        return image

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """The three branches on one batch.

        Args:
            batch: ``image (B, C, S, S)`` with ``S = sr_scale * input_size``; ``input_ids``, ``attention_mask``,
                ``token_type_ids`` ``(B, T)`` (from :class:`~raddino_monai.transforms.entity_mlm.EntityAwareMLM`);
                optional ``mae_noise (B, N)`` masking noise (drawn from the global torch RNG when absent).

        Returns:
            ``"pred"`` / ``"target"`` ``(B, N, p*p*C)`` decoder prediction of every patch and the patchified
            ``input_size`` image; ``"mask" (B, N)`` 1 = masked; ``"sr" (B, C, S, S)`` the SR head's output and
            ``"sr_target"`` the batch image; ``"logits" (B, T, V)`` MLM logits; ``"cross_attention" (B, heads, T, K)``
            (detached) the fusion layer's attention to the ``K`` visible patches.

        Raises:
            KeyError: a required key is missing (listed).
            ValueError: an image of the wrong shape.
        """
        cfg = self.config
        big = self._check_batch(batch)
        p = self.backbone.patch_size
        images = F.interpolate(big, size=(cfg.input_size, cfg.input_size), mode="bicubic", align_corners=False,
                               antialias=cfg.resize_antialias)
        grid = (cfg.input_size // p, cfg.input_size // p)
        masking = random_masking(images.shape[0], grid[0] * grid[1], cfg.mask_ratio, noise=batch.get("mae_noise"),
                                 device=images.device)
        latent = encode_visible(self.backbone, images, masking.ids_keep)
        pred = self.decoder(latent, masking.ids_restore, grid)
        target = patchify(images, p)
        sr = self.super_res(self._pred_pixels(pred, target, grid))
        text = self.report_decoder(batch["input_ids"], batch["attention_mask"], latent, batch["token_type_ids"])
        return {"pred": pred, "target": target, "mask": masking.mask, "sr": sr, "sr_target": big,
                "logits": text["logits"], "cross_attention": text["cross_attention"].detach()}

    def _pred_pixels(self, pred: Tensor, target: Tensor, grid: tuple[int, int]) -> Tensor:
        """Decoder prediction in image form (the SR input); with ``norm_pix_loss`` mapped back to pixels."""
        if self.config.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + _NORM_PIX_EPS) ** 0.5
            pred = pred * std.detach() + mean.detach()
        return unpatchify(pred, self.backbone.patch_size, grid, self.in_chans)


def build_ecamp_model(
    backbone: str = "mae_vitb16",
    *,
    vocab_size: int | None = None,
    backbone_weights: str | Path | None = None,
    text_model: str | Path | None = None,
    config: ECAMPConfig | Mapping[str, Any] | None = None,
    backbone_overrides: Mapping[str, Any] | None = None,
    text_overrides: Mapping[str, Any] | None = None,
    pad_token_id: int = 0,
) -> ECAMPModel:
    """Build :class:`ECAMPModel` from local files only.

    Args:
        backbone: registry name of the encoder ([ECAMP] ViT-B/16: ``"mae_vitb16"``).
        vocab_size: tokenizer vocabulary (needed for a new BERT, checked against ``text_model``).
        backbone_weights: encoder weights (HF folder, DINOv2- or MAE/timm-named file; ECAMP starts from MAE
            ViT-B/16, ``run.sh --resume mae_vit_base.pth``). ``None``: random init with the fixed sin-cos position
            table.
        text_model: local BERT folder; ``None`` = ECAMP's random-init BERT.
        config: :class:`ECAMPConfig` or a mapping of its fields.
        backbone_overrides: :class:`~raddino_monai.models.registry.BackboneSpec` overrides. The registry's
            ``image_size`` is kept by default, so the exported encoder loads as ``arch:folder`` in every evaluation
            tool; when ``input_size`` differs from it (not for ``mae_vitb16``: 224 both), the stored position table
            is interpolated to the input grid at each forward, as for any input size.
        text_overrides: ``BertConfig`` overrides for a new BERT.
        pad_token_id: the tokenizer's padding id for a new BERT.

    Returns:
        the model, in training mode.

    Example:
        >>> model = build_ecamp_model("tiny_vit_p16", vocab_size=50, config={"input_size": 32, "decoder_dim": 16,
        ...     "decoder_depth": 1, "decoder_heads": 2}, text_overrides={"hidden_size": 16, "num_hidden_layers": 1,
        ...     "num_attention_heads": 2, "intermediate_size": 32})
    """
    cfg = config if isinstance(config, ECAMPConfig) else ECAMPConfig.from_dict(config)
    encoder = create_backbone(backbone, weights=backbone_weights, **dict(backbone_overrides or {}))
    if backbone_weights is None:
        init_sincos_position_embedding(encoder)
    decoder = build_report_decoder(encoder.embed_dim, text_model=text_model, vocab_size=vocab_size,
                                   pad_token_id=pad_token_id, **dict(text_overrides or {}))
    return ECAMPModel(encoder, decoder, cfg)

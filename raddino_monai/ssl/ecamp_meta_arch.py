"""ECAMPMetaArch: ECAMP's loss composition around the network, ``forward(batch) -> {"loss", <terms>}``.

[ECAMP] ToniChopp/ECAMP @ d02d16d: the network (:class:`~raddino_monai.models.ecamp.ECAMPModel`) gives the branches'
predictions; this module applies the three losses of ``model_ecamp.py`` (``forward_loss`` 276-300, the MLM loss of
``bert_modeling.py`` 211-217) and sums them with equal weights (``main_pretrain.py`` line 147:
``loss = mim_loss + res_loss + mlm_loss``). Each term is returned, so the trainer logs every one.

It is the model :class:`raddino_monai.engines.PretrainTrainer` drives: ``forward(batch)`` returns the loss dict,
``exported_backbone()`` is the image encoder the export handler writes, ``param_groups()`` are ECAMP's AdamW groups,
``student_submodules()`` the parts whose gradient norms are logged (and clipped when ``clip_grad > 0``).

Example::

    >>> meta = ECAMPMetaArch.from_config(ECAMPPretrainConfig.tiny(), vocab_size=400)
    >>> out = meta(batch)                                   # doctest: +SKIP
    >>> sorted(k for k in out if k.startswith("loss"))      # doctest: +SKIP
    ['loss', 'loss_mim', 'loss_mlm', 'loss_sr']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from raddino_monai.losses.masked_pixel import MaskedPixelLoss
from raddino_monai.losses.super_resolution import SuperResolutionLoss
from raddino_monai.losses.weighted_mlm import WeightedMLMLoss
from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.ecamp.model import ECAMPModel, build_ecamp_model
from raddino_monai.ssl.ecamp_config import ECAMPLossConfig, ECAMPPretrainConfig

__all__ = ["ECAMPMetaArch", "ECAMP_LOSS_KEYS", "ecamp_param_groups"]

#: the scalars :meth:`ECAMPMetaArch.forward` returns (``loss`` = the weighted sum)
ECAMP_LOSS_KEYS: tuple[str, ...] = ("loss", "loss_mim", "loss_sr", "loss_mlm")
_LOSS_BATCH_KEYS = ("labels", "mlm_weights")


def ecamp_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """ECAMP's AdamW groups: weight decay on >= 2-D weights only ([ECAMP] ``main_pretrain.py`` 253: timm
    ``optim_factory.add_weight_decay(model, wd)``: no decay for 1-D parameters and names ending in ``.bias``).

    Frozen parameters (``requires_grad=False``: ECAMP's fixed sin-cos table) are left out. The groups carry
    ``wd_multiplier`` (1 or 0) so a schedule's weight decay is applied by
    :func:`~raddino_monai.ssl.param_groups.apply_schedule_values`.

    Returns:
        ``[{"params": decay, "wd_multiplier": 1.0}, {"params": no_decay, "wd_multiplier": 0.0}]`` (empty groups
        dropped).
    """
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    groups = [{"params": decay, "wd_multiplier": 1.0}, {"params": no_decay, "wd_multiplier": 0.0}]
    return [g for g in groups if g["params"]]


class ECAMPMetaArch(nn.Module):
    """MIM + SR + MLM losses of an :class:`~raddino_monai.models.ecamp.ECAMPModel`.

    Args:
        model: the ECAMP network.
        loss: :class:`~raddino_monai.ssl.ecamp_config.ECAMPLossConfig` (default: ECAMP's equal weights).

    Attributes:
        model: the network (``model.backbone`` is the exported encoder).
        mim_loss, sr_loss, mlm_loss: the loss modules.
    """

    def __init__(self, model: ECAMPModel, loss: ECAMPLossConfig | None = None) -> None:
        super().__init__()
        self.model = model
        self.loss_config = cfg = loss or ECAMPLossConfig()
        self.mim_loss = MaskedPixelLoss(norm_pix=model.config.norm_pix_loss, normalize_by=cfg.mim_normalize_by)
        self.sr_loss = SuperResolutionLoss(normalize_by=cfg.sr_normalize_by)
        self.mlm_loss = WeightedMLMLoss(normalize_by=cfg.mlm_normalize_by)

    @classmethod
    def from_config(cls, config: ECAMPPretrainConfig, *, vocab_size: int | None = None, pad_token_id: int = 0,
                    text_model: str | None = None) -> ECAMPMetaArch:
        """Build the network from local files only (:func:`~raddino_monai.models.ecamp.build_ecamp_model`); its random
        initialisation is drawn from ``config.seed`` inside a forked RNG (the caller's random state is untouched).

        Args:
            config: the recipe (encoder name and weights, network, BERT sizes, losses).
            vocab_size: tokenizer vocabulary (a new BERT is built at this size).
            pad_token_id: the tokenizer's padding id.
            text_model: local BERT folder; overrides ``config.text_model``.
        """
        folder = text_model or config.text_model
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = build_ecamp_model(
                config.backbone, vocab_size=vocab_size, backbone_weights=config.backbone_weights, text_model=folder,
                config=config.model, text_overrides=None if folder else dict(config.bert), pad_token_id=pad_token_id,
            )
        return cls(model, config.loss)

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """The losses of one batch.

        Args:
            batch: the network's keys (:data:`~raddino_monai.models.ecamp.ECAMP_BATCH_KEYS`) with ``labels`` and
                ``mlm_weights (B, T)``; optional ``sr_region (B, 1, S, S)``.

        Returns:
            ``"loss"`` (weighted sum, differentiable), ``"loss_mim"``, ``"loss_sr"``, ``"loss_mlm"`` (scalars, with
            gradient) and, detached, ``"mask" (B, N)`` and ``"cross_attention" (B, heads, T, K)``.

        Raises:
            KeyError: a batch key is missing (listed).
        """
        missing = [k for k in _LOSS_BATCH_KEYS if k not in batch]
        if missing:
            raise KeyError(f"ECAMP batch lacks {missing} (from EntityAwareMLMd); found keys {sorted(batch)}.")
        cfg = self.loss_config
        out = self.model(batch)
        loss_mim = self.mim_loss(out["pred"], out["target"], out["mask"])
        loss_sr = self.sr_loss(out["sr"], out["sr_target"], batch.get("sr_region"))
        loss_mlm = self.mlm_loss(out["logits"], batch["labels"], batch["mlm_weights"])
        loss = cfg.mim_weight * loss_mim + cfg.sr_weight * loss_sr + cfg.mlm_weight * loss_mlm
        return {"loss": loss, "loss_mim": loss_mim, "loss_sr": loss_sr, "loss_mlm": loss_mlm,
                "mask": out["mask"].detach(), "cross_attention": out["cross_attention"]}

    def exported_backbone(self) -> RadDinoBackbone:
        """The image encoder kept after pretraining (ECAMP evaluates only its ViT)."""
        return self.model.backbone

    def param_groups(self) -> list[dict[str, Any]]:
        """ECAMP's AdamW groups (:func:`ecamp_param_groups`)."""
        return ecamp_param_groups(self)

    def student_submodules(self) -> dict[str, nn.Module]:
        """The trained parts, each with its own logged gradient norm: encoder, MAE decoder, SR head, report decoder."""
        m = self.model
        return {"backbone": m.backbone, "decoder": m.decoder, "super_res": m.super_res,
                "report_decoder": m.report_decoder}

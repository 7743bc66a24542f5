"""StudentTeacher: DINOv2's teacher-student meta-architecture (DINO + iBOT + KoLeo) as one ``nn.Module``.

Structure follows [DV2] ``train/ssl_meta_arch.py``: ``student`` and ``teacher`` are parallel ``nn.ModuleDict``s
``{backbone, dino_head[, ibot_head]}``; the teacher is an EMA copy of the student that never receives gradients and
always runs in eval mode (no drop-path). A loss module exists only when its weight is > 0. With
``heads.ibot_separate_head = False`` ([DV2] default; RAD-DINO released a single head [CARD]) there is no
``ibot_head`` entry and iBOT uses ``dino_head``: the same weights, exactly as DINOv2's shared head.

The step is split into :meth:`forward_teacher` (targets, no grad), :meth:`forward_student` (logits) and
:meth:`compute_losses`; :meth:`forward` chains them so the module can be wrapped in ``DistributedDataParallel``.

Example::

    >>> model = StudentTeacher.from_config(SSLConfig.tiny())
    >>> out = model(global_crops, local_crops, masks, masks_weight, teacher_temp=0.04)  # doctest: +SKIP
    >>> out["loss"].backward(); model.update_teacher(momentum=0.992)                    # doctest: +SKIP
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from raddino_monai.losses import DINOClsTokenLoss, IBOTPatchLoss, KoLeoLoss
from raddino_monai.models import RadDinoBackbone, create_backbone
from raddino_monai.models.dino_head import DINOHead
from raddino_monai.models.weights.head_file import load_dino_head
from raddino_monai.ssl.config import SSLConfig
from raddino_monai.ssl.ema import TeacherEMA
from raddino_monai.ssl.param_groups import build_param_groups

__all__ = ["StudentTeacher"]


class StudentTeacher(nn.Module):
    """Teacher-student SSL model around a :class:`~raddino_monai.models.RadDinoBackbone`.

    Args:
        backbone: student backbone (its weights also initialise the teacher: DINOv2 / RAD-DINO continual
            pretraining loads them before this call, [DV2] ``student.pretrained_weights``).
        config: loss weights, head sizes, temperatures; default :meth:`SSLConfig.raddino`.
        dino_head: optional head to start from (e.g. :func:`~raddino_monai.models.weights.head_file.load_dino_head` of
            RAD-DINO's ``dino_head.safetensors`` [CARD]); ``None`` builds a random one from ``config.heads``.
        n_global_crops: number of global views in a batch ([DV2] 2), ordered view-major.

    Raises:
        ValueError: ``dino_head.in_dim`` differs from the backbone width.
    """

    def __init__(
        self,
        backbone: RadDinoBackbone,
        config: SSLConfig | None = None,
        dino_head: DINOHead | None = None,
        n_global_crops: int = 2,
    ) -> None:
        super().__init__()
        self.config = cfg = config if config is not None else SSLConfig.raddino()
        self.n_global_crops = n_global_crops
        dim = backbone.embed_dim
        head_kwargs = dict(
            in_dim=dim,
            out_dim=cfg.heads.n_prototypes,
            hidden_dim=cfg.heads.hidden_dim,
            bottleneck_dim=cfg.heads.bottleneck_dim,
            nlayers=cfg.heads.nlayers,
        )
        dino_head = dino_head if dino_head is not None else DINOHead(**head_kwargs)
        if dino_head.in_dim != dim:
            raise ValueError(f"dino_head.in_dim={dino_head.in_dim} does not match the backbone width {dim}.")
        modules: dict[str, nn.Module] = {"backbone": backbone, "dino_head": dino_head}
        if cfg.loss.ibot_loss_weight > 0 and cfg.heads.ibot_separate_head:
            modules["ibot_head"] = copy.deepcopy(dino_head)
        self.student = nn.ModuleDict(modules)
        self.teacher = copy.deepcopy(self.student)
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.n_prototypes = dino_head.out_dim
        loss_kwargs = dict(
            out_dim=self.n_prototypes,
            student_temp=cfg.loss.student_temp,
            centering=cfg.loss.centering,
            center_momentum=cfg.loss.center_momentum,
        )
        self.dino_loss = DINOClsTokenLoss(**loss_kwargs) if cfg.loss.dino_loss_weight > 0 else None
        self.ibot_loss = IBOTPatchLoss(**loss_kwargs) if cfg.loss.ibot_loss_weight > 0 else None
        self.koleo_loss = KoLeoLoss() if cfg.loss.koleo_loss_weight > 0 else None
        self._ema: TeacherEMA | None = None  # built at the first update, rebuilt if the parameters are swapped

    @classmethod
    def from_config(cls, config: SSLConfig, n_global_crops: int = 2) -> StudentTeacher:
        """Build backbone (``config.backbone``: name, weights, drop-path) and heads (``config.heads.weights``).

        Args:
            config: the full SSL configuration.
            n_global_crops: global views per image.

        Returns:
            the model on CPU, student in train mode, teacher in eval mode.
        """
        bcfg = config.backbone
        backbone = create_backbone(
            bcfg.name, weights=bcfg.weights, drop_path_rate=bcfg.drop_path_rate, **bcfg.overrides
        )
        backbone.set_grad_checkpointing(bcfg.grad_checkpointing)
        head = None
        if config.heads.weights is not None:
            head = load_dino_head(config.heads.weights, in_dim=backbone.embed_dim)
        return cls(backbone, config, dino_head=head, n_global_crops=n_global_crops)

    def train(self, mode: bool = True) -> StudentTeacher:
        """Set the student's mode; the teacher always stays in eval mode (no drop-path, [DV2] teacher build)."""
        super().train(mode)
        self.teacher.eval()
        return self

    @staticmethod
    def _ibot_head(part: nn.ModuleDict) -> nn.Module:
        return part["ibot_head"] if "ibot_head" in part else part["dino_head"]

    def exported_backbone(self) -> nn.Module:
        """The backbone kept after pretraining: the teacher's ([DV2] evaluates the teacher; RAD-DINO released it).
        Export and snapshot handlers write it (:func:`raddino_monai.engines.exported_backbone`)."""
        return self.teacher["backbone"]

    def student_submodules(self) -> dict[str, nn.Module]:
        """Student parts clipped separately ([DV2] ``clip_grad`` per submodule): backbone, dino_head[, ibot_head]."""
        return dict(self.student.items())

    @torch.no_grad()
    def forward_teacher(self, global_crops: Tensor, masks: Tensor | None, teacher_temp: float) -> dict[str, Tensor]:
        """Teacher targets from the unmasked global crops (updates the loss centres).

        Args:
            global_crops: ``(G*B, 3, S, S)`` view-major.
            masks: ``(G*B, N)`` bool iBOT masks (positions whose teacher tokens are targets) or None.
            teacher_temp: teacher temperature (schedule value).

        Returns:
            ``"dino"``: ``(G*B, K)`` probabilities; ``"ibot"``: ``(M, K)`` probabilities of the masked patches;
            ``"dino_logits"``: raw teacher CLS logits (for the entropy monitor).
        """
        feats = self.teacher["backbone"].forward_features(global_crops)
        out: dict[str, Tensor] = {}
        if self.dino_loss is not None:
            logits = self.teacher["dino_head"](feats["cls_token"])
            out["dino_logits"] = logits
            out["dino"] = self.dino_loss.teacher_probs(logits, teacher_temp)
        if self.ibot_loss is not None and masks is not None:
            patch_logits = self._ibot_head(self.teacher)(feats["patch_tokens"][masks])
            out["ibot"] = self.ibot_loss.teacher_probs(patch_logits, teacher_temp)
        return out

    def forward_student(
        self, global_crops: Tensor, local_crops: Tensor | None, masks: Tensor | None
    ) -> dict[str, Tensor]:
        """Student logits: CLS of every view through the DINO head, masked global patches through the iBOT head.

        Args:
            global_crops: ``(G*B, 3, S, S)`` view-major; masked by ``masks``.
            local_crops: ``(n_local*B, 3, s, s)`` view-major (never masked) or None.
            masks: ``(G*B, N)`` bool or None.

        Returns:
            ``"global_cls"`` ``(G*B, D)`` backbone CLS (KoLeo input); ``"dino_global"`` ``(G*B, K)``;
            ``"dino_local"`` ``(n_local*B, K)`` (if local crops); ``"ibot"`` ``(M, K)`` (if iBOT and masks).
        """
        backbone = self.student["backbone"]
        use_masks = self.ibot_loss is not None and masks is not None
        n = global_crops.shape[0]
        h, w = backbone.grid_size(global_crops)
        # an all-False mask keeps the mask token in the graph, so DDP sees every parameter used
        student_masks = masks if use_masks else torch.zeros(n, h * w, dtype=torch.bool, device=global_crops.device)
        g = backbone.forward_features(global_crops, masks=student_masks)
        cls_tokens = [g["cls_token"]]
        if local_crops is not None and local_crops.numel() > 0:
            cls_tokens.append(backbone.forward_features(local_crops)["cls_token"])
        out: dict[str, Tensor] = {"global_cls": g["cls_token"]}
        if self.dino_loss is not None:
            logits = self.student["dino_head"](torch.cat(cls_tokens))  # one head call for all views
            out["dino_global"], out["dino_local"] = logits[:n], logits[n:]
        if use_masks:
            out["ibot"] = self._ibot_head(self.student)(g["patch_tokens"][masks])
        return out

    def compute_losses(
        self, student: dict[str, Tensor], teacher: dict[str, Tensor], masks_weight: Tensor | None
    ) -> dict[str, Tensor]:
        """Weighted loss terms, their sum ``"loss"`` and collapse monitors.

        Args:
            student: output of :meth:`forward_student`.
            teacher: output of :meth:`forward_teacher`.
            masks_weight: ``(M,)`` per-masked-patch weights ``1/n_masked`` of the owning image.

        Returns:
            ``"loss"`` (differentiable total), ``"dino"``, ``"ibot"``, ``"koleo"`` (weighted terms present),
            ``"koleo_raw"`` (unweighted KoLeo) and ``"teacher_entropy"`` (mean entropy of the teacher CLS targets,
            nats; near 0 = collapse onto one prototype, near ``log K`` = uniform collapse).
        """
        w, g = self.config.loss, self.n_global_crops
        terms: dict[str, Tensor] = {}
        monitors: dict[str, Tensor] = {}
        global_cls = student["global_cls"]
        if self.dino_loss is not None:
            n_local = student["dino_local"].shape[0] // (global_cls.shape[0] // g)
            views = list(student["dino_global"].chunk(g)) + list(student["dino_local"].chunk(n_local or 1))
            views = [v for v in views if v.numel() > 0]
            terms["dino"] = w.dino_loss_weight * self.dino_loss(views, teacher["dino"].chunk(g))
            probs = teacher["dino"]
            monitors["teacher_entropy"] = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()
        if self.ibot_loss is not None and "ibot" in student and masks_weight is not None:
            terms["ibot"] = w.ibot_loss_weight * self.ibot_loss(
                student["ibot"], teacher["ibot"], masks_weight, n_images=global_cls.shape[0]
            )
        if self.koleo_loss is not None and global_cls.shape[0] // g >= w.min_batch_for_koleo:
            koleo = sum(self.koleo_loss(c) for c in global_cls.chunk(g))
            monitors["koleo_raw"] = koleo.detach()
            terms["koleo"] = w.koleo_loss_weight * koleo
        total = torch.stack([t.float() for t in terms.values()]).sum()
        return {"loss": total, **terms, **monitors}

    def forward(
        self,
        global_crops: Tensor,
        local_crops: Tensor | None = None,
        masks: Tensor | None = None,
        masks_weight: Tensor | None = None,
        teacher_temp: float | None = None,
    ) -> dict[str, Tensor]:
        """One SSL step's forward: teacher targets, student logits, losses (see :meth:`compute_losses`).

        Args:
            global_crops: ``(G*B, 3, S, S)`` view-major global crops.
            local_crops: ``(n_local*B, 3, s, s)`` view-major local crops, or None.
            masks: ``(G*B, N)`` bool iBOT masks, or None.
            masks_weight: ``(M,)`` weights of the masked patches (``M = masks.sum()``).
            teacher_temp: teacher temperature for this iteration (the schedule value); ``None``: the recipe's first
                value, ``config.schedule.warmup_teacher_temp``.

        Returns:
            dict of scalar tensors, ``"loss"`` being the differentiable total.
        """
        if masks is not None:
            masks = masks.to(device=global_crops.device, dtype=torch.bool)
        teacher_temp = self.config.schedule.warmup_teacher_temp if teacher_temp is None else teacher_temp
        teacher = self.forward_teacher(global_crops, masks, teacher_temp)
        student = self.forward_student(global_crops, local_crops, masks)
        return self.compute_losses(student, teacher, masks_weight)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """EMA update of every teacher parameter: ``t <- m * t + (1 - m) * s`` ([DV2] ``update_teacher``).

        Args:
            momentum: EMA momentum in [0, 1] (schedule value, [DV2] cosine 0.992 -> 1).

        Raises:
            ValueError: ``momentum`` outside [0, 1].
        """
        if self._ema is None or not self._ema.matches(self.teacher, self.student):
            self._ema = TeacherEMA(self.teacher, self.student)
        self._ema(momentum)

    def param_groups(self) -> list[dict]:
        """AdamW groups of the student ([DV2] ``get_params_groups``): layer-wise lr decay, patch-embed multiplier,
        no weight decay on biases/norms/LayerScale, last-layer flag (see
        :func:`~raddino_monai.ssl.param_groups.build_param_groups`)."""
        backbone = self.student["backbone"]
        return build_param_groups(
            self.student_submodules(),
            layer_decay=self.config.optim.layerwise_decay,
            patch_embed_lr_mult=self.config.optim.patch_embed_lr_mult,
            no_weight_decay_fn=lambda name, param: backbone.no_weight_decay(name),  # [DV2] name rule, heads too
        )

"""SSLTrainer: a :class:`~raddino_monai.engines.PretrainTrainer` whose iteration is one DINOv2 teacher-student step.

Per iteration ([DV2] ``train/train.py``): schedule values for this iteration -> optimizer groups; prepare batch;
teacher forward (targets, no grad) and student forward inside autocast; losses in fp32; backward (GradScaler for
fp16); gradient clipping per student submodule ([DV2] ``clip_grad`` 3.0); optimizer step; EMA update of the teacher.
``IterationEvents`` fire as in MONAI (FORWARD_COMPLETED, LOSS_COMPLETED, BACKWARD_COMPLETED after clipping,
MODEL_COMPLETED after the step and EMA), so MONAI/ignite handlers and ours (checkpoint, NaN guard, TensorBoard,
export) plug in as usual. The step itself is :class:`PretrainTrainer`'s; this class fills its hooks: the forward
takes the SSL collate's crops and the scheduled teacher temperature, the batch size counts images (not crops), and
``after_step`` is the teacher's EMA update with the scheduled momentum.

``engine.state.output`` holds ``"loss"`` (detached total), ``"losses"`` (every term and monitor as floats),
``"schedule"`` (:class:`~raddino_monai.ssl.schedules.ScheduleValues`), ``"grad_norms"`` (pre-clip norm per
submodule) and ``"batch_size"`` (images in this rank's batch).

Example::

    >>> trainer = SSLTrainer(device, max_epochs=1, train_data_loader=loader, network=model,
    ...                      optimizer=torch.optim.AdamW(model.param_groups()),
    ...                      schedules=cfg.build_schedules(global_batch_size=8, total_iters=len(loader)))
    >>> trainer.run()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from ignite.engine import Events
from monai.inferers import Inferer
from torch import nn
from torch.utils.data import DataLoader

from raddino_monai.engines.pretrain_trainer import PretrainTrainer, host_floats, unwrap_network
from raddino_monai.models.init_warning import warn_if_random_init
from raddino_monai.ssl.config import PRECISIONS
from raddino_monai.ssl.meta_arch import StudentTeacher
from raddino_monai.ssl.schedules import ScheduleValues, SSLSchedules

if TYPE_CHECKING:  # the handlers package imports this module
    from raddino_monai.engines.handlers.run_lock import RunLock

__all__ = ["SSLTrainer", "host_floats", "prepare_ssl_batch", "unwrap_model", "AUTOCAST_DTYPES", "SSL_BATCH_KEYS"]

#: autocast dtype per ``precision`` (None = no autocast): the table ``SSLConfig.precision`` is validated against
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = PRECISIONS
#: tensors an SSL batch must / may carry (docs/architecture.md collate contract)
SSL_BATCH_KEYS: tuple[str, ...] = ("global_crops", "local_crops", "masks", "masks_weight")


def unwrap_model(network: nn.Module) -> StudentTeacher:
    """The :class:`StudentTeacher` inside an optional ``DistributedDataParallel`` wrapper.

    Raises:
        TypeError: the network is not a StudentTeacher.
    """
    model = unwrap_network(network)
    if not isinstance(model, StudentTeacher):
        raise TypeError(f"SSLTrainer needs a StudentTeacher (optionally DDP-wrapped), found {type(model).__name__}.")
    return model


def prepare_ssl_batch(
    batchdata: Mapping[str, Any], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any
) -> dict[str, torch.Tensor]:
    """Move the SSL collate's tensors to ``device``.

    Args:
        batchdata: output of the SSL collate (``global_crops`` required; ``local_crops``, ``masks``,
            ``masks_weight`` optional).
        device: target device.
        non_blocking: asynchronous host-to-device copies.
        kwargs: extra ``Tensor.to`` arguments.

    Returns:
        dict with the present keys of :data:`SSL_BATCH_KEYS`.

    Raises:
        KeyError: ``global_crops`` is missing (the message lists the keys found).
    """
    if "global_crops" not in batchdata:
        raise KeyError(f"SSL batch lacks 'global_crops'; found keys {sorted(batchdata)}. Use the SSL collate.")
    return {
        k: torch.as_tensor(batchdata[k]).to(device=device, non_blocking=non_blocking, **kwargs)
        for k in SSL_BATCH_KEYS
        if batchdata.get(k) is not None
    }


class SSLTrainer(PretrainTrainer):
    """Teacher-student SSL trainer (DINO + iBOT + KoLeo) on MONAI engines.

    Args:
        device: training device.
        max_epochs: epochs to run.
        train_data_loader: loader yielding SSL collate batches.
        network: :class:`~raddino_monai.ssl.meta_arch.StudentTeacher`, optionally DDP-wrapped or FSDP2-sharded
            (:func:`~raddino_monai.engines.fsdp.shard_student_teacher`, before the optimizer is built).
        optimizer: optimizer over ``network.param_groups()`` (groups carry ``lr_multiplier``, ``wd_multiplier``,
            ``is_last_layer``).
        schedules: per-iteration values, e.g. ``SSLConfig.build_schedules(global_batch, total_iters)``.
        epoch_length: iterations per epoch (default ``len(train_data_loader)``).
        precision: ``"bf16"`` (autocast, CPU or CUDA), ``"fp16"`` (autocast + GradScaler, CUDA only) or ``"fp32"``;
            ``None``: the model's recipe, ``network.config.precision``.
        clip_grad: max gradient norm per student submodule, 0 disables; ``None``: the model's recipe,
            ``network.config.optim.clip_grad``.
        non_blocking: asynchronous device copies.
        prepare_batch: batch preparation (default :func:`prepare_ssl_batch`).
        inferer: runs ``network(global_crops, local_crops, masks, masks_weight, teacher_temp=...)``; default
            ``SimpleInferer``.
        train_handlers: MONAI/ignite handlers with ``attach(engine)``.
        run_lock: held for the whole of :meth:`run` (one run per output folder; a second run is refused with a
            message naming the holder), e.g. ``RunLock(output_dir)``; ``None`` = no lock.
        kwargs: other ``SupervisedTrainer`` arguments (``amp``, ``decollate`` and ``loss_function`` are fixed: the
            losses are computed inside the network, :meth:`StudentTeacher.forward`).

    Raises:
        ValueError: unknown ``precision`` (valid values listed), or fp16 without CUDA.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        network: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedules: SSLSchedules,
        epoch_length: int | None = None,
        precision: str | None = None,
        clip_grad: float | None = None,
        non_blocking: bool = False,
        prepare_batch: Any = prepare_ssl_batch,
        inferer: Inferer | None = None,
        train_handlers: Sequence | None = None,
        run_lock: RunLock | None = None,
        **kwargs: Any,
    ) -> None:
        model = unwrap_model(network)
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            schedules=schedules,
            epoch_length=epoch_length,
            precision=model.config.precision if precision is None else precision,
            clip_grad=model.config.optim.clip_grad if clip_grad is None else clip_grad,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            inferer=inferer,
            train_handlers=train_handlers,
            run_lock=run_lock,
            **kwargs,
        )
        self.add_event_handler(Events.STARTED, self._warn_if_random_init)  # after the handlers' STARTED (resume)

    def _warn_if_random_init(self, engine: SSLTrainer) -> None:
        """A fresh run (nothing resumed) of a ViT-B-or-larger backbone without weights warns loudly
        (:func:`raddino_monai.models.warn_if_random_init`)."""
        if engine.state.iteration == 0:
            backbone = engine.model.config.backbone
            warn_if_random_init(backbone.name, backbone.weights, backbone.overrides.get("image_size"))

    @property
    def model(self) -> StudentTeacher:
        """The unwrapped :class:`StudentTeacher`."""
        return unwrap_model(self.network)

    def forward_losses(self, batch: Mapping[str, Any], values: ScheduleValues) -> Mapping[str, Any]:
        """Teacher targets and student losses of the SSL batch at this iteration's teacher temperature."""
        return self.inferer(
            batch["global_crops"],
            self.network,
            batch.get("local_crops"),
            batch.get("masks"),
            batch.get("masks_weight"),
            teacher_temp=values.teacher_temp,
        )

    def batch_size_of(self, batch: Mapping[str, Any]) -> int:
        """Images in this rank's batch (global crops / crops per image)."""
        return int(batch["global_crops"].shape[0]) // self.model.n_global_crops

    def after_step(self, values: ScheduleValues) -> None:
        """EMA update of the teacher with the scheduled momentum."""
        self.model.update_teacher(values.momentum)

"""SSLTrainer: a MONAI ``SupervisedTrainer`` whose iteration is one DINOv2 teacher-student step.

Per iteration ([DV2] ``train/train.py``): schedule values for this iteration -> optimizer groups; prepare batch;
teacher forward (targets, no grad) and student forward inside autocast; losses in fp32; backward (GradScaler for
fp16); gradient clipping per student submodule ([DV2] ``clip_grad`` 3.0); optimizer step; EMA update of the teacher.
``IterationEvents`` fire as in MONAI (FORWARD_COMPLETED, LOSS_COMPLETED, BACKWARD_COMPLETED after clipping,
MODEL_COMPLETED after the step and EMA), so MONAI/ignite handlers and ours (checkpoint, NaN guard, TensorBoard,
export) plug in as usual.

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

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.inferers import Inferer
from monai.utils import CommonKeys as Keys
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from raddino_monai.ssl.config import PRECISIONS
from raddino_monai.ssl.meta_arch import StudentTeacher
from raddino_monai.ssl.param_groups import apply_schedule_values
from raddino_monai.ssl.schedules import SSLSchedules

if TYPE_CHECKING:  # the handlers package imports this module
    from raddino_monai.engines.handlers.run_lock import RunLock

__all__ = ["SSLTrainer", "host_floats", "prepare_ssl_batch", "unwrap_model", "AUTOCAST_DTYPES", "SSL_BATCH_KEYS"]

#: autocast dtype per ``precision`` (None = no autocast): the table ``SSLConfig.precision`` is validated against
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = PRECISIONS
#: tensors an SSL batch must / may carry (docs/architecture.md collate contract)
SSL_BATCH_KEYS: tuple[str, ...] = ("global_crops", "local_crops", "masks", "masks_weight")


def host_floats(values: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Scalar tensors as Python floats with one device-to-host copy (one sync on CUDA instead of one per value).

    Args:
        values: name -> scalar tensor (any dtype, same device).

    Returns:
        name -> float, in the same order.
    """
    if not values:
        return {}
    stacked = torch.stack([v.detach().reshape(()).float() for v in values.values()])
    return dict(zip(values, stacked.tolist()))


def unwrap_model(network: nn.Module) -> StudentTeacher:
    """The :class:`StudentTeacher` inside an optional ``DistributedDataParallel`` wrapper.

    Raises:
        TypeError: the network is not a StudentTeacher.
    """
    model = network.module if isinstance(network, DistributedDataParallel) else network
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


class SSLTrainer(SupervisedTrainer):
    """Teacher-student SSL trainer (DINO + iBOT + KoLeo) on MONAI engines.

    Args:
        device: training device.
        max_epochs: epochs to run.
        train_data_loader: loader yielding SSL collate batches.
        network: :class:`~raddino_monai.ssl.meta_arch.StudentTeacher`, optionally DDP-wrapped.
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
        precision = model.config.precision if precision is None else precision
        clip_grad = model.config.optim.clip_grad if clip_grad is None else clip_grad
        if precision not in AUTOCAST_DTYPES:
            raise ValueError(f"precision={precision!r} is not valid; valid values are {sorted(AUTOCAST_DTYPES)}.")
        device = torch.device(device)
        if precision == "fp16" and device.type != "cuda":
            raise ValueError(f"precision='fp16' needs a CUDA device (GradScaler), found {device}; use 'bf16'.")
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            loss_function=None,  # not called: StudentTeacher.forward returns the losses
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            inferer=inferer,
            train_handlers=train_handlers,
            amp=False,
            decollate=False,
            **kwargs,
        )
        self.schedules = schedules
        self.precision = precision
        self.clip_grad = clip_grad
        self.grad_scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.run_lock = run_lock

    def run(self) -> None:  # type: ignore[override]
        """Train (MONAI ``Workflow.run``), holding :attr:`run_lock` throughout when one is given.

        Raises:
            RunLockedError: another live process holds the output folder.
        """
        if self.run_lock is None:
            super().run()
            return
        with self.run_lock:
            super().run()

    @property
    def model(self) -> StudentTeacher:
        """The unwrapped :class:`StudentTeacher`."""
        return unwrap_model(self.network)

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = AUTOCAST_DTYPES[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.state.device.type, dtype=dtype)

    def _clip_gradients(self) -> dict[str, float]:
        """Unscale (fp16) and clip each student submodule; returns the pre-clip norms (read with one host sync)."""
        if self.grad_scaler is not None:
            self.grad_scaler.unscale_(self.optimizer)
        norms = {}
        for name, module in self.model.student_submodules().items():
            params = [p for p in module.parameters() if p.grad is not None]
            if not params:
                continue
            max_norm = self.clip_grad if self.clip_grad > 0 else float("inf")
            norms[name] = torch.nn.utils.clip_grad_norm_(params, max_norm)
        return host_floats(norms)

    def _iteration(self, engine: SSLTrainer, batchdata: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        """One SSL step; see the module docstring for the order and the output dict.

        Raises:
            ValueError: ``batchdata`` is None.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        values = engine.schedules(engine.state.iteration - 1)
        apply_schedule_values(engine.optimizer, values.lr, values.weight_decay, values.last_layer_lr)
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=True)
        with engine._autocast():
            losses = engine.inferer(
                batch["global_crops"],
                engine.network,
                batch.get("local_crops"),
                batch.get("masks"),
                batch.get("masks_weight"),
                teacher_temp=values.teacher_temp,
            )
        engine.state.output = {
            Keys.LOSS: losses["loss"].detach(),
            "losses": host_floats(losses),  # logged and checked (NaNGuard): the step's one loss sync
            "schedule": values,
            "batch_size": batch["global_crops"].shape[0] // engine.model.n_global_crops,
        }
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        loss = losses["loss"]
        (engine.grad_scaler.scale(loss) if engine.grad_scaler is not None else loss).backward()
        engine.state.output["grad_norms"] = engine._clip_gradients()
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        if engine.grad_scaler is not None:
            engine.grad_scaler.step(engine.optimizer)
            engine.grad_scaler.update()
        else:
            engine.optimizer.step()
        engine.model.update_teacher(values.momentum)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output

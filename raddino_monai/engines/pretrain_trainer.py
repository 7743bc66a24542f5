"""PretrainTrainer: a MONAI ``SupervisedTrainer`` for any pretraining model whose forward returns its losses.

The model contract (:class:`PretrainModel`, a structural protocol, nothing to inherit):

* ``network(batch) -> {"loss": total, "<term>": ..., ...}``: ``batch`` is the collate's dict with its tensors on the
  device (:func:`prepare_tensor_batch`); ``"loss"`` is the differentiable scalar that is back-propagated; every other
  **scalar** entry (tensor with one element, or a number) is logged as a term or monitor; non-scalar entries (masks,
  attention maps) are ignored by the trainer.
* optional ``student_submodules() -> {name: module}``: parts whose gradients are clipped separately ([DV2]
  ``clip_grad`` per submodule); without it the whole network is one part, ``"model"``;
* optional ``after_optimizer_step(values) -> None``: called after each optimizer step with the iteration's schedule
  values (an EMA teacher update goes here);
* optional ``exported_backbone() -> RadDinoBackbone``: the encoder the export / snapshot handlers write
  (:func:`exported_backbone`).

Per iteration (the order of [DV2] ``train/train.py``, shared with :class:`~raddino_monai.engines.SSLTrainer`, which
is a subclass): ``values = schedules(iteration - 1)`` -> optimizer groups (:func:`apply_schedule_values`: ``lr`` and
``weight_decay`` times each group's ``lr_multiplier`` / ``wd_multiplier``, ``last_layer_lr`` for groups flagged
``is_last_layer``); batch to device; ``network.train()``; forward inside autocast (``precision``); backward (through a
GradScaler for fp16); pre-clip gradient norm per part, clipped at ``clip_grad``; optimizer step (scaler step for
fp16); ``after_optimizer_step``. ``IterationEvents`` fire as in MONAI (FORWARD_COMPLETED, LOSS_COMPLETED,
BACKWARD_COMPLETED after clipping, MODEL_COMPLETED after the step), so the project's handlers attach unchanged:
``SSLCheckpointHandler`` (atomic checkpoints, exact resume), ``NaNGuard``, ``SSLTensorBoardHandler`` (every term,
``monitors=`` for non-loss scalars), ``SSLProgressBar``, ``ThroughputMonitor``, ``TeacherExportHandler`` (the
model's ``exported_backbone()``), ``TeacherSnapshots``.

``engine.state.output`` (stable keys):

* ``"loss"``: detached total;
* ``"losses"``: every scalar of the model's output as a float (``"loss"`` included);
* ``"schedule"``: the iteration's schedule values (a dataclass with at least ``lr`` and ``weight_decay``,
  e.g. :class:`~raddino_monai.ssl.schedules.OptimScheduleValues`), or ``None`` without schedules;
* ``"grad_norms"``: pre-clip gradient norm per part;
* ``"batch_size"``: samples in this rank's batch (:meth:`PretrainTrainer.batch_size_of`).

Example::

    >>> schedules = OptimSchedules.constant(lr=1e-4, weight_decay=1e-6, total_iters=len(loader))
    >>> trainer = PretrainTrainer("cpu", max_epochs=1, train_data_loader=loader, network=model,
    ...                           optimizer=torch.optim.Adam(model.param_groups()), schedules=schedules,
    ...                           precision="fp32", clip_grad=0.0, train_handlers=[NaNGuard(), SSLProgressBar()],
    ...                           run_lock=RunLock("runs/x"))
    >>> trainer.run()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.inferers import Inferer
from monai.utils import CommonKeys as Keys
from torch import nn
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.ssl.config import PRECISIONS
from raddino_monai.ssl.param_groups import apply_schedule_values

if TYPE_CHECKING:  # the handlers package imports this module
    from raddino_monai.engines.handlers.run_lock import RunLock

__all__ = [
    "PretrainModel",
    "PretrainTrainer",
    "exported_backbone",
    "prepare_tensor_batch",
    "host_floats",
    "scalar_terms",
    "unwrap_network",
]


@runtime_checkable
class PretrainModel(Protocol):
    """What :class:`PretrainTrainer` needs of a model: ``forward(batch) -> {"loss": ..., <terms>}`` (the optional
    hooks are listed in the module docstring)."""

    def __call__(self, batch: Mapping[str, Any]) -> Mapping[str, Any]: ...


def unwrap_network(network: nn.Module) -> nn.Module:
    """The module inside an optional ``DistributedDataParallel`` wrapper."""
    return network.module if isinstance(network, DistributedDataParallel) else network


def exported_backbone(model: nn.Module) -> RadDinoBackbone:
    """The encoder a pretraining model exports for evaluation: ``model.exported_backbone()``.

    Args:
        model: the (unwrapped) pretraining model, e.g. ``StudentTeacher`` (its teacher backbone) or a ConVIRT
            training model (its image backbone).

    Raises:
        TypeError: the model has no ``exported_backbone()`` or it does not return a ``RadDinoBackbone`` (only
            registry ViTs are written as HF folders).
    """
    method = getattr(unwrap_network(model), "exported_backbone", None)
    if method is None:
        raise TypeError(
            f"{type(model).__name__} has no exported_backbone() method: the export and snapshot handlers need one "
            "returning the RadDinoBackbone to write (StudentTeacher: the teacher backbone)."
        )
    backbone = method()
    if not isinstance(backbone, RadDinoBackbone):
        raise TypeError(
            f"{type(model).__name__}.exported_backbone() returned {type(backbone).__name__}; only a RadDinoBackbone "
            "(a registry ViT) can be exported as a Dinov2Model HF folder."
        )
    return backbone


def prepare_tensor_batch(
    batchdata: Mapping[str, Any], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Move every tensor of a collate dict to ``device``; other values (lists of ids, strings) pass unchanged.

    Raises:
        TypeError: ``batchdata`` is not a mapping (the message names the type found).
    """
    if not isinstance(batchdata, Mapping):
        raise TypeError(f"PretrainTrainer batches are dicts of tensors, found {type(batchdata).__name__}.")
    return {
        k: v.to(device=device, non_blocking=non_blocking, **kwargs) if isinstance(v, torch.Tensor) else v
        for k, v in batchdata.items()
    }


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


def scalar_terms(losses: Mapping[str, Any]) -> dict[str, float]:
    """The scalar entries of a model's loss dict as floats (one-element tensors and numbers; others skipped), the
    tensors read with one host sync (:func:`host_floats`)."""
    tensors = {k: v for k, v in losses.items() if isinstance(v, torch.Tensor) and v.numel() == 1}
    on_host = host_floats(tensors)
    out = {}
    for name, value in losses.items():
        if name in on_host:
            out[name] = on_host[name]
        elif not isinstance(value, torch.Tensor) and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


class PretrainTrainer(SupervisedTrainer):
    """Trainer for models whose forward returns ``{"loss": total, <terms>}`` (see the module docstring).

    Args:
        device: training device.
        max_epochs: epochs to run.
        train_data_loader: loader yielding dict batches.
        network: the model (:class:`PretrainModel`), optionally DDP-wrapped.
        optimizer: optimizer over the model's trainable parameters; groups may carry ``lr_multiplier``,
            ``wd_multiplier`` and ``is_last_layer`` (:func:`~raddino_monai.ssl.param_groups.apply_schedule_values`).
        schedules: ``iteration (0-based) -> values`` with ``lr`` and ``weight_decay`` attributes (optionally
            ``last_layer_lr``), applied to the optimizer groups each iteration and passed to
            ``after_optimizer_step``; e.g. :class:`~raddino_monai.ssl.schedules.OptimSchedules`. ``None``: the
            optimizer's own lr / weight decay stay untouched.
        epoch_length: iterations per epoch (default ``len(train_data_loader)``).
        precision: ``"fp32"``, ``"bf16"`` (autocast, CPU or CUDA) or ``"fp16"`` (autocast + GradScaler, CUDA only).
        clip_grad: max gradient norm per part (``student_submodules()``, else the whole network); 0 disables
            clipping (the norms are still measured and logged).
        non_blocking: asynchronous device copies.
        prepare_batch: batch preparation (default :func:`prepare_tensor_batch`).
        inferer: runs ``network(batch)``; default ``SimpleInferer``.
        train_handlers: MONAI/ignite handlers with ``attach(engine)``.
        run_lock: held for the whole of :meth:`run` (one run per output folder), e.g. ``RunLock(output_dir)``.
        batch_size_key: batch entry whose leading dimension is the batch size reported to the throughput monitor
            (``None``: the first tensor of the batch).
        kwargs: other ``SupervisedTrainer`` arguments (``amp``, ``decollate`` and ``loss_function`` are fixed: the
            losses are computed inside the network).

    Raises:
        ValueError: unknown ``precision`` (valid values listed), fp16 without CUDA, or ``clip_grad < 0``.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        network: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedules: Callable[[int], Any] | None = None,
        epoch_length: int | None = None,
        precision: str = "fp32",
        clip_grad: float = 0.0,
        non_blocking: bool = False,
        prepare_batch: Any = prepare_tensor_batch,
        inferer: Inferer | None = None,
        train_handlers: Sequence | None = None,
        run_lock: RunLock | None = None,
        batch_size_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not valid; valid values are {sorted(PRECISIONS)}.")
        device = torch.device(device)
        if precision == "fp16" and device.type != "cuda":
            raise ValueError(f"precision='fp16' needs a CUDA device (GradScaler), found {device}; use 'bf16'.")
        if clip_grad < 0:
            raise ValueError(f"clip_grad must be >= 0 (0 disables clipping), found {clip_grad}.")
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            loss_function=None,  # not called: the network returns its losses
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
        self.clip_grad = float(clip_grad)
        self.grad_scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.run_lock = run_lock
        self.batch_size_key = batch_size_key

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
    def model(self) -> nn.Module:
        """The network without its DDP wrapper."""
        return unwrap_network(self.network)

    # --- hooks (subclasses override these, not _iteration) ---------------------------------------------------------

    def schedule_values(self, iteration: int) -> Any:
        """Schedule values of the 0-based ``iteration`` (``None`` without schedules)."""
        return None if self.schedules is None else self.schedules(iteration)

    def apply_schedule(self, values: Any) -> None:
        """Write ``values`` into the optimizer groups (no-op for ``None``)."""
        if values is None:
            return
        lr = float(values.lr)
        last_layer_lr = float(getattr(values, "last_layer_lr", lr))
        apply_schedule_values(self.optimizer, lr, float(values.weight_decay), last_layer_lr)

    def forward_losses(self, batch: Mapping[str, Any], values: Any) -> Mapping[str, Any]:
        """The network's loss dict for ``batch`` (runs inside autocast)."""
        return self.inferer(batch, self.network)

    def batch_size_of(self, batch: Mapping[str, Any]) -> int:
        """Samples in this rank's batch: leading dim of ``batch[batch_size_key]`` (or of the first tensor)."""
        if self.batch_size_key is not None:
            return int(batch[self.batch_size_key].shape[0])
        first = next((v for v in batch.values() if isinstance(v, torch.Tensor) and v.ndim > 0), None)
        return int(first.shape[0]) if first is not None else 0

    def clip_parts(self) -> dict[str, nn.Module]:
        """Parts clipped separately: ``model.student_submodules()`` if the model has it, else ``{"model": network}``."""
        parts = getattr(self.model, "student_submodules", None)
        return dict(parts()) if callable(parts) else {"model": self.model}

    def after_step(self, values: Any) -> None:
        """After the optimizer step: the model's ``after_optimizer_step(values)`` if it has one."""
        hook = getattr(self.model, "after_optimizer_step", None)
        if callable(hook):
            hook(values)

    # --- the step --------------------------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.state.device.type, dtype=dtype)

    def _clip_gradients(self) -> dict[str, float]:
        """Unscale (fp16) and clip each part; returns the pre-clip norms (parts without gradients are skipped)."""
        if self.grad_scaler is not None:
            self.grad_scaler.unscale_(self.optimizer)
        norms = {}
        max_norm = self.clip_grad if self.clip_grad > 0 else float("inf")
        for name, module in self.clip_parts().items():
            params = [p for p in module.parameters() if p.grad is not None]
            if params:
                norm = torch.nn.utils.clip_grad_norm_(params, max_norm)  # FSDP2 shards: a DTensor, reduced over ranks
                norms[name] = norm.full_tensor() if isinstance(norm, DTensor) else norm
        return host_floats(norms)

    def _iteration(  # type: ignore[override]
        self, engine: PretrainTrainer, batchdata: dict[str, Any]
    ) -> dict[str, Any]:
        """One optimisation step; see the module docstring for the order and the output dict.

        Raises:
            ValueError: ``batchdata`` is None.
            KeyError: the network's output has no ``"loss"`` (the keys found are listed).
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        values = engine.schedule_values(engine.state.iteration - 1)
        engine.apply_schedule(values)
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=True)
        with engine._autocast():
            losses = engine.forward_losses(batch, values)
        if "loss" not in losses:
            raise KeyError(f"{type(engine.model).__name__} returned no 'loss'; found keys {sorted(losses)}.")
        loss = losses["loss"]
        engine.state.output = {
            Keys.LOSS: loss.detach(),
            "losses": scalar_terms(losses),
            "schedule": values,
            "batch_size": engine.batch_size_of(batch),
        }
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        (engine.grad_scaler.scale(loss) if engine.grad_scaler is not None else loss).backward()
        engine.state.output["grad_norms"] = engine._clip_gradients()
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        if engine.grad_scaler is not None:
            engine.grad_scaler.step(engine.optimizer)
            engine.grad_scaler.update()
        else:
            engine.optimizer.step()
        engine.after_step(values)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output

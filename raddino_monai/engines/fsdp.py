"""FSDP2 (PyTorch's ``fully_shard``) for :class:`~raddino_monai.ssl.StudentTeacher`, and full state dicts that keep the
project's checkpoint format whichever way the model is distributed.

Sharding ([DV2] ``train/ssl_meta_arch.py: prepare_for_distributed_training`` shards student and teacher alike, one
FSDP unit per transformer block, ``compute_precision`` in ``configs/ssl_default_config.yaml``): every block of the student and teacher backbones is its own unit, then the rest of
each backbone (embeddings, final norm), then each head; the :class:`StudentTeacher` is the root and owns no parameter.
Student and teacher get the same mesh and placements (``Shard(0)``), so the teacher EMA
(:func:`~raddino_monai.ssl.ema.update_ema`) runs shard by shard on the local tensors with no communication.
Mixed precision is FSDP's ``MixedPrecisionPolicy``: parameters all-gathered in the compute dtype, gradients reduced
in fp32 ([DV2] ``compute_precision``: param bf16, reduce fp32); activation checkpointing is the backbone's own
(``SSLConfig.backbone.grad_checkpointing``, non-reentrant, re-gathering each block in the recomputation).

Checkpoints stay the project's: ``model`` is the plain ``StudentTeacher.state_dict()`` and ``optimizer`` the plain
``torch.optim`` state dict (state keyed by parameter index), gathered from and scattered to the shards with
``torch.distributed.checkpoint.state_dict`` (``full_state_dict=True``), so a checkpoint written under FSDP resumes
under DDP or on one process and vice versa.

Gloo (CPU) runs FSDP2 as is: its all-gather and reduce-scatter use ``all_gather_into_tensor`` /
``reduce_scatter_tensor``, which gloo implements in torch 2.13 (tests/engines/test_fsdp.py runs 2 gloo processes).

Example::

    >>> dist.init_process_group("nccl")
    >>> model = shard_student_teacher(StudentTeacher.from_config(cfg).to(device), FSDPConfig(), precision="bf16")
    >>> optimizer = torch.optim.AdamW(model.param_groups())  # after sharding: the parameters are DTensors now
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor

from raddino_monai.ssl.config import PRECISIONS
from raddino_monai.ssl.meta_arch import StudentTeacher

__all__ = [
    "FSDPConfig",
    "shard_student_teacher",
    "is_sharded",
    "full_tensor_state",
    "model_state_dict",
    "load_model_state_dict",
    "optimizer_state_dict",
    "load_optimizer_state_dict",
]


@dataclass
class FSDPConfig:
    """How :func:`shard_student_teacher` shards the model.

    Args:
        reshard_after_forward: free the student's gathered block parameters after the forward and gather them again
            for the backward (ZeRO-3, ``FULL_SHARD``). ``False`` keeps them until the backward (ZeRO-2): one all-gather
            less per block and step for one full bf16 copy of the student's parameters per GPU, [DV2]
            ``compute_precision.student.backbone.sharding_strategy: SHARD_GRAD_OP``. The teacher (no backward)
            always reshards after its forward.
        reduce_dtype: gradient reduce-scatter dtype. Deviation: fp32, where [DV2] reduces the backbone in fp16
            (``reduce_dtype: fp16``, with a GradScaler); a bf16 reduce would round the averaged gradient to 8 bits.
        param_dtype: all-gathered parameter (compute) dtype, a :data:`~raddino_monai.ssl.config.PRECISIONS` name;
            ``None`` follows the training ``precision`` (bf16 for the RAD-DINO recipe; [DV2] ``param_dtype: fp16``).
    """

    reshard_after_forward: bool = False  # [DV2] SHARD_GRAD_OP
    reduce_dtype: str = "fp32"  # deviation from [DV2] fp16, see above
    param_dtype: str | None = None  # None: the trainer's precision

    def __post_init__(self) -> None:
        for name in ("reduce_dtype", "param_dtype"):
            value = getattr(self, name)
            if value is not None and value not in PRECISIONS:
                raise ValueError(f"FSDPConfig.{name}={value!r}; valid values: {sorted(PRECISIONS)} or None.")


def _dtype(name: str | None) -> torch.dtype | None:
    return None if name is None else PRECISIONS[name]


def _default_mesh(model: nn.Module) -> DeviceMesh:
    if not torch.distributed.is_initialized():
        raise RuntimeError("shard_student_teacher needs an initialised process group (torchrun + init_process_group).")
    device = next(model.parameters()).device
    return init_device_mesh(device.type, (torch.distributed.get_world_size(),))


def shard_student_teacher(
    model: StudentTeacher,
    config: FSDPConfig | None = None,
    precision: str | None = None,
    mesh: DeviceMesh | None = None,
) -> StudentTeacher:
    """Shard student and teacher in place with FSDP2 (``fully_shard``); build the optimizer afterwards.

    Args:
        model: the model on its device (``model.to(device)`` first).
        config: sharding options; default :class:`FSDPConfig`.
        precision: training precision (``PRECISIONS`` name) that ``config.param_dtype=None`` follows; ``None``: the
            model's recipe, ``model.config.precision``.
        mesh: 1-D device mesh; default all ranks of the default process group on the model's device type.

    Returns:
        the same object, its parameters now ``DTensor`` shards (its class becomes FSDP's subclass of it).

    Raises:
        RuntimeError: no process group and no mesh.
        ValueError: unknown precision (valid values listed).
    """
    config = config or FSDPConfig()
    precision = model.config.precision if precision is None else precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; valid values: {sorted(PRECISIONS)}.")
    mesh = mesh or _default_mesh(model)
    param_dtype = _dtype(config.param_dtype if config.param_dtype is not None else precision)
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=_dtype(config.reduce_dtype))
    for part, reshard in ((model.student, config.reshard_after_forward), (model.teacher, True)):
        kwargs: dict[str, Any] = {"mesh": mesh, "mp_policy": policy, "reshard_after_forward": reshard}
        hf_model = part["backbone"].model
        for block in hf_model.encoder.layer:
            fully_shard(block, **kwargs)
        fully_shard(hf_model, **kwargs)  # embeddings, mask token, final norm
        for name, head in part.items():
            if name != "backbone":
                fully_shard(head, **kwargs)
    # the root owns no parameter; it must not cast the step's float inputs (iBOT mask weights stay fp32)
    root_policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=policy.reduce_dtype,
                                       cast_forward_inputs=False)
    fully_shard(model, mesh=mesh, mp_policy=root_policy, reshard_after_forward=config.reshard_after_forward)
    return model


def is_sharded(module: Any) -> bool:
    """Whether ``module`` is an ``nn.Module`` with a ``DTensor`` (FSDP2-sharded) parameter; False for anything else
    (e.g. the report trainer's state wrapper, which only has ``state_dict`` / ``load_state_dict``)."""
    return isinstance(module, nn.Module) and any(isinstance(p, DTensor) for p in module.parameters())


def full_tensor_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` with every ``DTensor`` gathered into a full CPU tensor (collective on sharded
    modules: every rank calls it; plain modules need no communication).

    Returns:
        name -> detached contiguous CPU tensor, the keys of the unsharded module.
    """
    out = {}
    for name, value in module.state_dict().items():
        value = value.full_tensor() if isinstance(value, DTensor) else value
        out[name] = value.detach().cpu().contiguous()
    return out


_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def model_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The plain ``state_dict()`` of ``model``, gathered on rank 0 when it is sharded (collective then: every rank
    calls it; the other ranks get ``{}``)."""
    if not is_sharded(model):
        return model.state_dict()
    return get_model_state_dict(model, options=_FULL)


def load_model_state_dict(model: Any, state: dict[str, torch.Tensor]) -> None:
    """Load a plain (full) ``state_dict`` into ``model``, sharding it when ``model`` is sharded (every rank passes the
    full dict).

    Raises:
        RuntimeError: missing / unexpected keys or shape mismatches (as ``load_state_dict(strict=True)``).
    """
    if not is_sharded(model):
        model.load_state_dict(state)
        return
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing, unexpected = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {ours[k]}" for k in sorted(set(ours) & set(state))
              if tuple(state[k].shape) != ours[k]]
    if missing or unexpected or shapes:
        raise RuntimeError(f"Error(s) in loading state_dict:\n missing keys {missing[:5]}\n unexpected keys "
                           f"{unexpected[:5]}\n shape mismatches {shapes[:5]}")
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=True))


def _optimizer_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """Model-level names of the optimizer's parameters, in ``optimizer.state_dict()`` index order."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _groups(groups: Iterable[dict[str, Any]], params: list[list[Any]]) -> list[dict[str, Any]]:
    return [{**{k: v for k, v in g.items() if k != "params"}, "params": p} for g, p in zip(groups, params)]


def optimizer_state_dict(model: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The plain ``optimizer.state_dict()`` (state keyed by parameter index), gathered on rank 0 from the shards when
    ``model`` is sharded (collective then; the other ranks get ``{}``)."""
    if not is_sharded(model):
        return optimizer.state_dict()
    full = get_optimizer_state_dict(model, optimizer, options=_FULL)
    if not full:
        return {}
    index = {name: i for i, name in enumerate(_optimizer_names(model, optimizer))}
    return {
        "state": {index[name]: value for name, value in full["state"].items()},
        "param_groups": _groups(full["param_groups"], [[index[n] for n in g["params"]] for g in full["param_groups"]]),
    }


def load_optimizer_state_dict(model: Any, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load a plain ``optimizer.state_dict()`` (from any run: one process, DDP or FSDP), sharding it when ``model`` is
    sharded (every rank passes the full dict).

    Raises:
        ValueError: the checkpoint's parameter groups do not match the optimizer's (counts listed).
    """
    if not is_sharded(model):
        optimizer.load_state_dict(state)
        return
    names = _optimizer_names(model, optimizer)
    sizes = [len(g["params"]) for g in state["param_groups"]]
    if sizes != [len(g["params"]) for g in optimizer.param_groups]:
        raise ValueError(f"optimizer checkpoint has parameter groups of sizes {sizes}, the optimizer "
                         f"{[len(g['params']) for g in optimizer.param_groups]}.")
    keyed = {
        "state": {names[int(i)]: value for i, value in state["state"].items()},
        "param_groups": _groups(state["param_groups"], [[names[int(i)] for i in g["params"]]
                                                         for g in state["param_groups"]]),
    }
    set_optimizer_state_dict(model, optimizer, keyed, options=StateDictOptions(full_state_dict=True))

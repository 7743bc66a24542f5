"""SSL step benchmark: images/s, a time split of the step, FLOPs and the fraction of the measured GEMM peak.

The step timed is :class:`~raddino_monai.engines.SSLTrainer`'s own iteration (no copy of it): :class:`StepTimer`
attaches to the trainer and wraps the model's named phases, so the split is ``data`` (waiting for the loader),
``teacher_forward``, ``student_forward``, ``losses``, ``backward``, ``clip``, ``optimizer``, ``ema`` and ``other``
(schedules, batch transfer, handlers: the step's remainder). FLOPs are counted once per setup with
:func:`~raddino_monai.benchmarks.flops.count_flops` on the same model and batch; efficiency is
``FLOPs / (step time - data wait)`` over the GEMM FLOP/s of a large ``torch.matmul`` at the step's dtype, measured in
the same run (:func:`~raddino_monai.benchmarks.timing.gemm_flops_per_s`).

Setups (:data:`SETUPS`): ``tiny`` (the CPU smoke recipe), ``vits14_224`` (DINOv2's ViT-S/14 recipe: 224 / 96 px
crops, 8 locals, 65536 prototypes) and ``vitb14_518`` (the RAD-DINO recipe: 518 / 196 px, 8 locals).

Example::

    >>> result = benchmark_step("tiny", precision="fp32", steps=2, warmup=1, batch_size=4)  # doctest: +SKIP
    >>> result["images_per_s"], result["peak_fraction"]                                    # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from ignite.engine import Events
from monai.engines.utils import IterationEvents

from raddino_monai.benchmarks.flops import count_flops, saved_tensor_bytes, training_state_bytes
from raddino_monai.benchmarks.loader import build_ssl_loader
from raddino_monai.benchmarks.timing import PhaseClock, device_sync, gemm_flops_per_s, median
from raddino_monai.data.collate import collate_ssl
from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.engines.ssl_trainer import AUTOCAST_DTYPES, SSLTrainer, prepare_ssl_batch, unwrap_model
from raddino_monai.ssl import SSLConfig, StudentTeacher, build_adamw, update_ema
from raddino_monai.transforms import MultiCropConfig

__all__ = ["SETUPS", "StepSetup", "StepTimer", "benchmark_step", "build_model", "synthetic_batches", "run_steps"]

#: precision -> dtype of the GEMM the step is compared to
GEMM_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: phases of the split, in step order (``other`` = step time minus the named phases)
PHASES: tuple[str, ...] = (
    "data", "teacher_forward", "student_forward", "losses", "backward", "clip", "optimizer", "ema", "other",
)


@dataclass(frozen=True)
class StepSetup:
    """One benchmarked configuration: SSL recipe, backbone, crop recipe and default batch."""

    ssl_recipe: str  # SSLConfig recipe (heads, losses, optimiser)
    arch: str  # backbone name
    crop_recipe: str  # MultiCropConfig recipe (crop sizes, number of local crops)
    batch_size: int  # images per step by default
    crop_overrides: dict[str, Any] = field(default_factory=dict)

    def ssl_config(self, **sections: Any) -> SSLConfig:
        """The SSL config of this setup (backbone replaced by :attr:`arch`; ``sections`` as ``SSLConfig.replace``)."""
        backbone = {"name": self.arch, **sections.pop("backbone", {})}
        return SSLConfig.from_recipe(self.ssl_recipe, backbone=backbone, **sections)

    def crops(self, **overrides: Any) -> MultiCropConfig:
        """The crop config of this setup."""
        return MultiCropConfig.from_recipe(self.crop_recipe, **{**self.crop_overrides, **overrides})


#: setup name -> :class:`StepSetup`
SETUPS: dict[str, StepSetup] = {
    "tiny": StepSetup("tiny", "tiny_vit_p16", "tiny", 16),  # ssl_evidence protocol: batch 16
    "vits14_224": StepSetup("dinov2", "dinov2_vits14", "dinov2", 16),
    "vitb14_518": StepSetup("raddino", "raddino_vitb14", "raddino", 2),
}


def _setup(name: str) -> StepSetup:
    if name not in SETUPS:
        raise ValueError(f"Unknown setup {name!r}; valid values: {sorted(SETUPS)}.")
    return SETUPS[name]


def build_model(config: SSLConfig, device: torch.device | str = "cpu", seed: int = 0) -> StudentTeacher:
    """Seeded :class:`StudentTeacher` from ``config`` on ``device``."""
    torch.manual_seed(seed)
    return StudentTeacher.from_config(config).to(device)


def synthetic_batches(
    crops: MultiCropConfig, batch_size: int, patch_size: int, config: SSLConfig, n_batches: int = 2, seed: int = 0
) -> list[dict[str, Any]]:
    """SSL collate batches of random views at the crop recipe's sizes, with the recipe's iBOT masks.

    The step does not depend on pixel values, so random views time it exactly; the loader is benchmarked on its own
    (:mod:`raddino_monai.benchmarks.loader`).
    """
    gen = torch.Generator().manual_seed(seed)
    c = crops.out_channels
    batches = []
    for b in range(n_batches):
        samples = [
            {
                "global_crops": [torch.randn(c, crops.global_size, crops.global_size, generator=gen)
                                 for _ in range(crops.n_global)],
                "local_crops": [torch.randn(c, crops.local_size, crops.local_size, generator=gen)
                                for _ in range(crops.n_local)],
            }
            for _ in range(batch_size)
        ]
        batches.append(collate_ssl(samples, patch_size, np.random.default_rng(seed + b), config.masking))
    return batches


class StepTimer:
    """Times the phases of every :class:`SSLTrainer` iteration into a :class:`PhaseClock` (see module docstring).

    Args:
        model: the trainer's (unwrapped) model; its ``forward_teacher``, ``forward_student``, ``compute_losses`` and
            ``update_teacher`` are wrapped on the instance.
        device: device to synchronise around each phase.
    """

    def __init__(self, model: StudentTeacher, device: torch.device | str) -> None:
        self.clock = PhaseClock(device)
        self.model = model
        self._marks: dict[str, float] = {}
        for name, attr in (("teacher_forward", "forward_teacher"), ("student_forward", "forward_student"),
                           ("losses", "compute_losses"), ("ema", "update_teacher")):
            setattr(model, attr, self.clock.wrap(name, getattr(model, attr)))

    def _mark(self, name: str) -> Callable[[Any], None]:
        def mark(engine: Any) -> None:
            device_sync(self.clock.device)
            self._marks[name] = time.perf_counter()

        return mark

    def _span(self, phase: str, start: str, end: str) -> Callable[[Any], None]:
        def span(engine: Any) -> None:
            device_sync(self.clock.device)
            self._marks[end] = time.perf_counter()
            self.clock.add(phase, self._marks[end] - self._marks[start])

        return span

    def attach(self, trainer: SSLTrainer) -> None:
        """Register the event timers, the optimizer step hooks and the clipping wrapper on ``trainer``."""
        trainer._clip_gradients = self.clock.wrap("clip", trainer._clip_gradients)  # type: ignore[method-assign]
        trainer.add_event_handler(Events.GET_BATCH_STARTED, self._mark("batch"))
        trainer.add_event_handler(Events.GET_BATCH_COMPLETED, self._span("data", "batch", "batch_done"))
        trainer.add_event_handler(Events.ITERATION_STARTED, self._mark("iteration"))
        trainer.add_event_handler(IterationEvents.LOSS_COMPLETED, self._mark("loss"))
        trainer.add_event_handler(IterationEvents.BACKWARD_COMPLETED, self._span("backward", "loss", "backward_done"))
        trainer.optimizer.register_step_pre_hook(lambda *args: self._mark("optimizer")(None))
        trainer.optimizer.register_step_post_hook(
            lambda *args: self._span("optimizer", "optimizer", "optimizer_done")(None)
        )
        trainer.add_event_handler(Events.ITERATION_COMPLETED, self._end_step)

    def _end_step(self, engine: Any) -> None:
        device_sync(self.clock.device)
        step = time.perf_counter() - self._marks["iteration"]
        current = self.clock._current
        current["backward"] -= current.get("clip", 0.0)  # the backward span includes clipping
        current["other"] = step - sum(v for k, v in current.items() if k != "data")
        current["step"] = step
        self.clock.end_step()


def run_steps(
    model: torch.nn.Module,
    loader: Sequence[Mapping[str, Any]] | Any,
    n_steps: int,
    precision: str,
    config: SSLConfig,
    batch_size: int,
    device: torch.device | str = "cpu",
    adamw_impl: str | None = None,
) -> StepTimer:
    """Run ``n_steps`` iterations of :class:`SSLTrainer` on ``loader`` with a :class:`StepTimer` attached.

    Args:
        model: the model (e.g. :func:`build_model`), optionally DDP-wrapped.
        loader: SSL collate batches (a list is cycled) or a DataLoader.
        n_steps: iterations.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA).
        config: the model's SSL config (schedules, optimiser).
        batch_size: images per step (lr scaling).
        device: training device.
        adamw_impl: overrides ``config.optim.adamw_impl``.

    Returns:
        the timer (per-step phases in ``timer.clock.steps``).
    """
    inner = unwrap_model(model)
    timer = StepTimer(inner, device)
    trainer = SSLTrainer(
        device=device,
        max_epochs=1,
        train_data_loader=loader,
        network=model,
        optimizer=build_adamw(inner.param_groups(), config.optim, implementation=adamw_impl),
        schedules=config.build_schedules(batch_size, total_iters=max(n_steps, 2)),
        epoch_length=n_steps,
        precision=precision,
    )
    timer.attach(trainer)
    trainer.run()
    return timer


def step_flops(model: StudentTeacher, batch: Mapping[str, Any], precision: str, device: torch.device | str) -> int:
    """FLOPs of one SSL forward (teacher + student + losses) and backward at ``precision``; gradients are cleared."""
    prepared = prepare_ssl_batch(batch, device)
    dtype = AUTOCAST_DTYPES[precision]

    def step() -> None:
        with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
            out = model(prepared["global_crops"], prepared.get("local_crops"), prepared.get("masks"),
                        prepared.get("masks_weight"))
        out["loss"].backward()

    flops = count_flops(step)
    model.zero_grad(set_to_none=True)
    return flops


def benchmark_step(
    setup: str = "tiny",
    precision: str = "bf16",
    batch_size: int | None = None,
    steps: int = 3,
    warmup: int = 1,
    device: str = "cpu",
    adamw_impl: str | None = None,
    attn_implementation: str = "sdpa",
    ema: str = "cached",
    gemm_size: int = 2048,
    seed: int = 0,
    data: str = "synthetic",
    num_workers: int = 1,
    efficiency: bool = True,
) -> dict[str, Any]:
    """Benchmark the SSL step of one setup at one precision.

    Args:
        setup: a :data:`SETUPS` name.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only).
        batch_size: images per step; default the setup's.
        steps: timed iterations (median per phase).
        warmup: untimed iterations first (with ``efficiency`` the FLOP-counting step already warms up, so 0 is fine
            for the large setups).
        device: ``"cpu"`` or ``"cuda"``.
        adamw_impl: AdamW implementation (``SSLConfig.optim.adamw_impl`` by default).
        attn_implementation: ``"sdpa"`` or ``"eager"`` attention in the backbone.
        ema: ``"cached"`` (:class:`~raddino_monai.ssl.TeacherEMA`, the trainer's) or ``"oneoff"`` (rebuild the
            matching at each call, :func:`~raddino_monai.ssl.update_ema`).
        gemm_size: square matmul size of the peak measurement.
        seed: model and data seed.
        data: ``"synthetic"`` (:func:`synthetic_batches`: random views, the data wait is ~0) or ``"sample"`` (the
            real multi-crop loader, :func:`~raddino_monai.benchmarks.loader.build_ssl_loader`, over the embedded
            sample images: the data wait is the loader's).
        num_workers: loader workers for ``data="sample"``.
        efficiency: count FLOPs and activations and measure the GEMM peak (False: timing only, those are ``nan``).

    Returns:
        ``{"setup", "precision", "batch_size", "images_per_s", "step_s", "phases" (median s per phase),
        "flops_per_step", "achieved_flop_s", "gemm_flop_s", "peak_fraction", "activation_bytes", "state_bytes"}``.

    Raises:
        ValueError: unknown setup, precision, ema mode or data (valid values listed).
    """
    spec = _setup(setup)
    if precision not in GEMM_DTYPES:
        raise ValueError(f"Unknown precision {precision!r}; valid values: {sorted(GEMM_DTYPES)}.")
    if ema not in ("cached", "oneoff"):
        raise ValueError(f"Unknown ema mode {ema!r}; valid values: ['cached', 'oneoff'].")
    batch_size = batch_size or spec.batch_size
    config = spec.ssl_config(backbone={"overrides": {"attn_implementation": attn_implementation}})
    crops = spec.crops()
    model = build_model(config, device, seed)
    if ema == "oneoff":
        model.update_teacher = lambda m: update_ema(model.teacher, model.student, m)  # type: ignore[method-assign]
    patch = model.student["backbone"].patch_size
    if data == "synthetic":
        batches: Any = synthetic_batches(crops, batch_size, patch, config, 2, seed)
    elif data == "sample":
        batches = build_ssl_loader(load_sample_datalist("training"), crops, patch, config.masking, batch_size,
                                   num_workers, cache="memory", seed=seed)
    else:
        raise ValueError(f"Unknown data {data!r}; valid values: ['sample', 'synthetic'].")
    first = batches[0] if isinstance(batches, list) else next(iter(batches))
    gemm_dtype = GEMM_DTYPES[precision]
    nan = float("nan")
    peaks = [gemm_flops_per_s(gemm_dtype, gemm_size, device)] if efficiency else [nan]
    record: dict[str, int] = {"bytes": 0}
    # the counted step also serves as a warm-up (one-off allocations)
    with saved_tensor_bytes(record, exclude=model.parameters()):
        flops = step_flops(model, first, precision, device) if efficiency else nan
    act = record["bytes"] if efficiency else nan
    timer = run_steps(model, batches, warmup + steps, precision, config, batch_size, device, adamw_impl)
    if efficiency:
        peaks.append(gemm_flops_per_s(gemm_dtype, gemm_size, device))
    phases = timer.clock.medians(skip=warmup)
    compute_s = median([row["step"] for row in timer.clock.steps[warmup:]])  # data wait is outside "step"
    step_s = median([row["step"] + row.get("data", 0.0) for row in timer.clock.steps[warmup:]])
    gemm = median(peaks)
    return {
        "setup": setup,
        "precision": precision,
        "batch_size": batch_size,
        "images_per_s": batch_size / step_s,
        "step_s": step_s,
        "phases": {name: phases.get(name, 0.0) for name in PHASES},
        "flops_per_step": flops,
        "achieved_flop_s": flops / compute_s,
        "gemm_flop_s": gemm,
        "peak_fraction": flops / compute_s / gemm,
        "activation_bytes": act,
        "state_bytes": training_state_bytes(model.student, model.teacher),
    }

"""Per-GPU memory of a teacher-student SSL step: parameters, gradients, optimizer state, activations per image per crop
size, under one process, DDP or FSDP2, so a user can pick the batch and the sharding before renting GPUs.

The model counts the tensors autograd keeps for the backward of one transformer block with SDPA attention (no
``N x N`` attention matrix is stored), per token of width ``D`` and MLP width ``H``, with activations in the compute
dtype (``b`` bytes: 2 in bf16/fp16, 4 in fp32) and the residual stream in fp32 (LayerNorm and LayerScale outputs are
fp32 under autocast):

* the two LayerNorm inputs (residual stream, fp32): ``2 * 4 D``;
* LayerNorm-1 output (q/k/v projection input), q, k, v, attention output (o-projection input), LayerScale-1 input,
  LayerNorm-2 output (fc1 input), LayerScale-2 input: ``8 b D``;
* GELU MLP: fc1 output (GELU input) and GELU output (fc2 input): ``2 b H``; SwiGLU (ViT-g): gate and up outputs, the
  SiLU output and the product (down-projection input): ``4 b H'``;
* under autocast (``b < 4``), one low-precision copy of the LayerNorm output per projection that reads it (q, k, v:
  ``2 b D`` more; SwiGLU gate and up: ``b D`` more).

Only the student's activations are kept (the teacher runs without grad); each image has ``n_global`` crops at
``global_size`` and ``n_local`` at ``local_size``. The heads keep, per CLS token of every view and per masked patch
(iBOT, the expected share ``mask_sample_probability x mean(mask_ratio)`` of the global patches, [DV2] collate), the MLP
inputs and GELU tensors, and per prototype the logits (``b``), the tempered fp32 logits and log-softmax (``2 x 4``)
and the teacher's fp32 target (``4``). Activation checkpointing keeps only each block's input (fp32) plus one block's
activations during its recomputation.

Static memory per GPU: student and teacher fp32 parameters, fp32 gradients, AdamW's two fp32 moments; divided by the
number of GPUs under FSDP (``Shard(0)``), plus the gathered compute-dtype copies FSDP holds (the whole student when it
does not reshard after the forward, [DV2] ``SHARD_GRAD_OP``; two units in flight otherwise, and for the teacher) and the
unsharded gradient of two units in flight. DDP adds its gradient buckets (``gradient_as_bucket_view=False``, fp32) and
autocast's cached compute-dtype copy of the student's weights. Peak = parameters + optimizer state + the larger of
(activations + gathered copies) and (gradients + gathered copies); allocator fragmentation and the CUDA context are
the ``reserve`` of :func:`max_batch_per_gpu`.

:func:`measure_step_memory` measures the same quantities on CPU with torch's ``MemTracker``
(``torch.distributed._tools.mem_tracker``) over one training step, to check the model (tools/memory_model.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from raddino_monai.ssl.config import SSLConfig
from raddino_monai.ssl.meta_arch import StudentTeacher

__all__ = [
    "SHARDINGS",
    "MemoryEstimate",
    "ModelSizes",
    "model_sizes",
    "block_activation_bytes",
    "activation_bytes_per_image",
    "estimate_step_memory",
    "max_batch_per_gpu",
    "measure_step_memory",
]

#: distribution modes of :func:`estimate_step_memory`
SHARDINGS: tuple[str, ...] = ("none", "ddp", "fsdp")
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass(frozen=True)
class ModelSizes:
    """Parameter counts and widths of a :class:`StudentTeacher` (counted on the meta device).

    Args:
        student: student parameters (backbone + heads); the teacher has as many.
        largest_unit: parameters of the largest FSDP unit (a block, the embeddings or a head).
        width: token width D.
        mlp_hidden: MLP hidden width H (SwiGLU: H').
        swiglu: SwiGLU feed-forward (4 b H' saved per token instead of 2 b H).
        depth: blocks L.
        patch_size: patch side p.
        extra_tokens: CLS + register tokens.
        head_hidden: DINO head hidden width.
        head_bottleneck: DINO head bottleneck width.
        n_prototypes: K.
    """

    student: int
    largest_unit: int
    width: int
    mlp_hidden: int
    swiglu: bool
    depth: int
    patch_size: int
    extra_tokens: int
    head_hidden: int
    head_bottleneck: int
    n_prototypes: int


def model_sizes(config: SSLConfig) -> ModelSizes:
    """Count the parameters of ``StudentTeacher.from_config(config)`` without allocating them (meta device)."""
    with torch.device("meta"):
        model = StudentTeacher.from_config(config.replace(backbone={"weights": None}, heads={"weights": None}))
    backbone = model.student["backbone"]
    block = backbone.model.encoder.layer[0]
    units: list[nn.Module] = [block, backbone.model.embeddings, *(m for k, m in model.student.items() if k != "backbone")]
    mlp = block.mlp
    swiglu = hasattr(mlp, "gate_proj")
    hidden = mlp.gate_proj.out_features if swiglu else mlp.fc1.out_features
    return ModelSizes(
        student=sum(p.numel() for p in model.student.parameters()),
        largest_unit=max(sum(p.numel() for p in u.parameters()) for u in units),
        width=backbone.embed_dim,
        mlp_hidden=int(hidden),
        swiglu=swiglu,
        depth=backbone.num_layers,
        patch_size=backbone.patch_size,
        extra_tokens=1 + backbone.num_register_tokens,
        head_hidden=config.heads.hidden_dim,
        head_bottleneck=config.heads.bottleneck_dim,
        n_prototypes=model.n_prototypes,
    )


def block_activation_bytes(tokens: int, sizes: ModelSizes, compute_bytes: int) -> int:
    """Bytes one transformer block keeps for its backward for ``tokens`` tokens (see the module docstring)."""
    b, d, h = compute_bytes, sizes.width, sizes.mlp_hidden
    mlp = 4 * b * h if sizes.swiglu else 2 * b * h
    # autocast casts the fp32 LayerNorm output once per projection: q, k, v (and SwiGLU's gate, up) each save a copy
    casts = (2 * b * d + (b * d if sizes.swiglu else 0)) if b < 4 else 0
    return tokens * (2 * 4 * d + 8 * b * d + mlp + casts)


def _tokens(size: int, sizes: ModelSizes) -> int:
    return (size // sizes.patch_size) ** 2 + sizes.extra_tokens


def _head_token_bytes(sizes: ModelSizes, b: int) -> int:
    mlp = sizes.width + 4 * sizes.head_hidden + 3 * sizes.head_bottleneck  # inputs, GELU in/out, l2-norm
    return b * mlp + sizes.n_prototypes * (b + 3 * 4)


def activation_bytes_per_image(
    sizes: ModelSizes,
    config: SSLConfig,
    crop_sizes: dict[int, int],
    precision: str,
    grad_checkpointing: bool = False,
) -> dict[str, int]:
    """Activation bytes of one image, per crop size and for the heads.

    Args:
        sizes: from :func:`model_sizes`.
        config: masking and head settings.
        crop_sizes: crop side -> crops per image, e.g. ``{518: 2, 196: 8}``.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        grad_checkpointing: keep only block inputs (plus one recomputed block, counted in the static part).

    Returns:
        ``{"<side>px": bytes for all crops of that side, "heads": bytes}``.
    """
    b = _BYTES[precision]
    out: dict[str, int] = {}
    n_views = 0
    for side, count in crop_sizes.items():
        n = _tokens(side, sizes)
        per_block = n * 4 * sizes.width if grad_checkpointing else block_activation_bytes(n, sizes, b)
        embed = 3 * side * side * b + n * sizes.width * (4 + 4)  # patch-embed input, embeddings, final norm input
        out[f"{side}px"] = count * (sizes.depth * per_block + embed)
        n_views += count
    largest = max(crop_sizes)
    ratio = sum(config.masking.mask_ratio_min_max) / 2
    masked = config.masking.mask_sample_probability * ratio * (largest // sizes.patch_size) ** 2 * crop_sizes[largest]
    ibot = masked if config.loss.ibot_loss_weight > 0 else 0.0
    out["heads"] = int((n_views + ibot) * _head_token_bytes(sizes, b))
    return out


@dataclass(frozen=True)
class MemoryEstimate:
    """Per-GPU bytes of one step (see the module docstring for what each holds)."""

    params: int
    grads: int
    optimizer: int
    gathered: int
    activations: int
    activations_per_image: dict[str, int]
    peak: int

    def as_gib(self) -> dict[str, float]:
        """Every field in GiB (per-image entries included)."""
        out: dict[str, float] = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                out.update({f"act/img {k}": v / 2**30 for k, v in value.items()})
            else:
                out[key] = value / 2**30
        return out


def estimate_step_memory(
    config: SSLConfig,
    batch_per_gpu: int,
    crop_sizes: dict[int, int],
    precision: str = "bf16",
    sharding: str = "fsdp",
    world_size: int = 1,
    reshard_after_forward: bool = False,
    grad_checkpointing: bool = False,
    sizes: ModelSizes | None = None,
) -> MemoryEstimate:
    """Per-GPU memory of one SSL step.

    Args:
        config: the SSL recipe (backbone name, heads, masking).
        batch_per_gpu: images per GPU.
        crop_sizes: crop side -> crops per image.
        precision: compute precision (``"fp32"``, ``"bf16"``, ``"fp16"``).
        sharding: one of :data:`SHARDINGS`.
        world_size: GPUs the FSDP shards are spread over.
        reshard_after_forward: FSDP ZeRO-3 (else the whole student stays gathered from forward to backward).
        grad_checkpointing: activation checkpointing of the backbone blocks.
        sizes: precomputed :func:`model_sizes` (else counted from ``config``).

    Returns:
        a :class:`MemoryEstimate`.

    Raises:
        ValueError: unknown ``sharding`` or ``precision`` (valid values listed).
    """
    if sharding not in SHARDINGS:
        raise ValueError(f"sharding={sharding!r}; valid values: {list(SHARDINGS)}.")
    if precision not in _BYTES:
        raise ValueError(f"precision={precision!r}; valid values: {sorted(_BYTES)}.")
    sizes = sizes or model_sizes(config)
    b, p = _BYTES[precision], sizes.student
    shards = world_size if sharding == "fsdp" else 1
    params, grads, optimizer = 2 * 4 * p // shards, 4 * p // shards, 2 * 4 * p // shards
    gathered = 0
    if sharding == "fsdp":
        in_flight = 2 * sizes.largest_unit * b  # one unit computing, the next prefetched
        gathered = (p * b if not reshard_after_forward else in_flight) + in_flight  # + the teacher's units
        gathered += 2 * sizes.largest_unit * (b + 4)  # unsharded gradients of units being reduced
    else:
        grads += 4 * p if sharding == "ddp" else 0  # gradient buckets
        gathered = p * b if b < 4 else 0  # autocast's cached low-precision weights
    if grad_checkpointing:  # one block recomputed at a time, full activations for the largest crop batch
        n = _tokens(max(crop_sizes), sizes)
        gathered += batch_per_gpu * crop_sizes[max(crop_sizes)] * block_activation_bytes(n, sizes, b)
    per_image = activation_bytes_per_image(sizes, config, crop_sizes, precision, grad_checkpointing)
    activations = batch_per_gpu * sum(per_image.values())
    peak = params + optimizer + max(activations, grads) + gathered
    return MemoryEstimate(params, grads, optimizer, gathered, activations, per_image, peak)


def max_batch_per_gpu(gpu_bytes: float = 80e9, reserve: float = 0.1, **kwargs) -> int:
    """Largest ``batch_per_gpu`` whose :func:`estimate_step_memory` peak fits ``(1 - reserve) * gpu_bytes``
    (``reserve``: allocator fragmentation, CUDA context, cuBLAS/attention workspaces); 0 if none.

    Args:
        gpu_bytes: GPU memory (80e9: A100/H100 80 GB).
        reserve: share of the card left free.
        kwargs: the other arguments of :func:`estimate_step_memory` (without ``batch_per_gpu``).
    """
    budget = (1.0 - reserve) * gpu_bytes
    kwargs.setdefault("sizes", model_sizes(kwargs["config"]))
    batch = 0
    while estimate_step_memory(batch_per_gpu=batch + 1, **kwargs).peak <= budget:
        batch += 1
        if batch > 4096:
            break
    return batch


def measure_step_memory(
    config: SSLConfig,
    batch_per_gpu: int,
    crop_sizes: dict[int, int],
    precision: str = "fp32",
    seed: int = 0,
) -> dict[str, int]:
    """Measured CPU memory of one training step (after a warm-up step that creates AdamW's state), by category.

    Runs the :class:`StudentTeacher` forward, backward, AdamW step and EMA on random crops and masks drawn as the
    collate does, under ``torch.distributed._tools.mem_tracker.MemTracker``.

    Args:
        config: the SSL recipe (random init).
        batch_per_gpu: images.
        crop_sizes: crop side -> crops per image; the largest side holds the global (masked) crops.
        precision: autocast precision on CPU: ``"fp32"`` or ``"bf16"``.
        seed: random seed.

    Returns:
        peak bytes per category: ``"params"`` (student + teacher), ``"grads"``, ``"optimizer"``, ``"activations"``,
        ``"temporaries"``, ``"peak"`` (all together, at the peak).
    """
    from torch.distributed._tools.mem_tracker import MemTracker

    torch.manual_seed(seed)
    model = StudentTeacher.from_config(config.replace(precision=precision))
    optimizer = torch.optim.AdamW(model.param_groups())
    largest = max(crop_sizes)
    crops = {s: torch.rand(batch_per_gpu * n, 3, s, s) for s, n in crop_sizes.items()}
    local = torch.cat([c for s, c in crops.items() if s != largest]) if len(crops) > 1 else None
    n_patches = (largest // model.student["backbone"].patch_size) ** 2
    ratio = sum(config.masking.mask_ratio_min_max) / 2
    n_mask = int(round(config.masking.mask_sample_probability * ratio * n_patches))
    masks = torch.zeros(crops[largest].shape[0], n_patches, dtype=torch.bool)
    masks[:, :n_mask] = True
    masks_weight = torch.full((int(masks.sum()),), 1.0 / max(n_mask, 1))
    dtype = {"fp32": None, "bf16": torch.bfloat16}[precision]

    def step() -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = model(crops[largest], local, masks, masks_weight, teacher_temp=0.04)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.update_teacher(0.99)

    step()
    model.teacher.requires_grad_(True)  # MemTracker hooks every parameter's gradient; the teacher never gets one
    tracker = MemTracker()
    tracker.track_external(model, optimizer)
    try:
        with tracker:
            step()
    finally:
        model.teacher.requires_grad_(False)
    peak = next(iter(tracker.get_tracker_snapshot("peak").values()))
    names = {"PARAM": "params", "GRAD": "grads", "OPT": "optimizer", "ACT": "activations", "TEMP": "temporaries"}
    out = {new: int(sum(v for k, v in peak.items() if str(k).endswith("." + old))) for old, new in names.items()}
    out["peak"] = int(peak["Total"])
    return out

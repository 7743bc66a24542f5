"""Teacher-output centering for DINO / iBOT: softmax centering (running mean) and Sinkhorn-Knopp.

Both turn teacher logits into target probabilities that do not collapse onto one prototype:

* ``"centering"`` ([DV2] ``train.centering`` default; ``loss/dino_clstoken_loss.py`` ``softmax_center_teacher``):
  ``p = softmax((t - c) / T_t)`` with the centre ``c`` an exponential moving average of batch means,
  ``c <- m * c + (1 - m) * mean_batch(t)``, ``m = 0.9`` ([DV2] ``center_momentum``). The centre applied to batch
  ``s`` is built from batches ``< s`` only (DINOv2 applies the update lazily at the next call).
* ``"sinkhorn_knopp"`` ([DV2] ``sinkhorn_knopp_teacher``, used by the ViT-L/g configs): 3 alternating row/column
  normalisations of ``exp(t / T_t)`` over the whole (all-reduced) batch; no running state.

Everything here works with and without :mod:`torch.distributed`: collectives run only when
``dist.is_available() and dist.is_initialized()``, and reduce over the default process group.

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/loss/dino_clstoken_loss.py``, ``ibot_patch_loss.py``.
    - [0] Caron et al., DINO, 2021, https://arxiv.org/abs/2104.14294 (centering).
    - [1] Caron et al., SwAV, 2020, https://arxiv.org/abs/2006.09882 (Sinkhorn-Knopp).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from raddino_monai._compat import moved_names

__all__ = [
    "TeacherCentering",
    "SoftmaxCentering",
    "SinkhornKnoppCentering",
    "sinkhorn_knopp",
    "build_centering",
    "CENTERING_REGISTRY",
    "distributed_is_active",
]


__getattr__ = moved_names(__name__)  # TeacherTargetLoss moved to losses/teacher_target.py


def distributed_is_active() -> bool:
    """True when a default :mod:`torch.distributed` process group exists (so collectives are needed)."""
    return dist.is_available() and dist.is_initialized()


def _check_temperature(teacher_temp: float) -> None:
    if not teacher_temp > 0:
        raise ValueError(f"teacher_temp must be > 0, found {teacher_temp}.")


class TeacherCentering(nn.Module, ABC):
    """Common interface of the teacher centerings: ``forward`` gives target probabilities, ``update`` feeds stats."""

    @abstractmethod
    def forward(self, teacher_logits: Tensor, teacher_temp: float) -> Tensor:
        """Map teacher logits ``(..., K)`` to float32 target probabilities of the same shape."""

    @abstractmethod
    def update(self, teacher_logits: Tensor, async_op: bool = False) -> None:
        """Feed the current batch's teacher logits ``(..., K)`` into the running state (if any)."""


class SoftmaxCentering(TeacherCentering):
    """DINO softmax centering with an EMA centre kept in the ``center`` buffer ``(1, K)``.

    ``forward(t, T)`` returns ``softmax((t - center) / T)``; ``update(t)`` folds the (global) mean of ``t`` into the
    centre, ``center <- momentum * center + (1 - momentum) * mean(t)``. Call ``forward`` then ``update`` on each
    batch: the probabilities of batch ``s`` use the centre built from batches ``< s`` ([DV2] semantics).

    With ``async_op=True`` the all-reduce of the batch statistics overlaps with the rest of the step, exactly as in
    DINOv2; the pending update is applied at the next ``forward``, by :meth:`synchronize`, or before ``state_dict``
    so a checkpoint never misses it. Without a process group the update is applied immediately.

    The batch mean is the exact global mean over all rows on all ranks (sum and row count are all-reduced together),
    which also covers ranks with different row counts (iBOT masked patches). Batches with no rows leave the centre
    unchanged.

    Args:
        out_dim: number of prototypes ``K``.
        momentum: centre EMA momentum in [0, 1]; [DV2] ``dino.center_momentum`` default 0.9.

    Raises:
        ValueError: ``out_dim < 1`` or ``momentum`` outside [0, 1].

    Example:
        >>> centering = SoftmaxCentering(out_dim=8)
        >>> t = torch.randn(4, 8)
        >>> probs = centering(t, teacher_temp=0.04)   # uses the centre of previous batches
        >>> centering.update(t)                        # then fold this batch in
    """

    center: Tensor

    def __init__(self, out_dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"out_dim must be >= 1, found {out_dim}.")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"center momentum must be in [0, 1], found {momentum}.")
        self.out_dim = out_dim
        self.momentum = momentum
        self.register_buffer("center", torch.zeros(1, out_dim))
        self._pending: tuple[Tensor, dist.Work | None] | None = None
        self.register_state_dict_pre_hook(_synchronize_before_save)

    def forward(self, teacher_logits: Tensor, teacher_temp: float) -> Tensor:
        """Centre and sharpen.

        Args:
            teacher_logits: ``(..., K)`` teacher head outputs (any float dtype).
            teacher_temp: teacher temperature ``T_t > 0`` (a schedule value, e.g. 0.04 -> 0.07).

        Returns:
            float32 probabilities ``(..., K)``, each row summing to 1.
        """
        _check_temperature(teacher_temp)
        self._check_dim(teacher_logits)
        self.synchronize()
        return F.softmax((teacher_logits.detach().float() - self.center) / teacher_temp, dim=-1)

    @torch.no_grad()
    def update(self, teacher_logits: Tensor, async_op: bool = False) -> None:
        """Fold the global mean of ``teacher_logits`` ``(..., K)`` into the centre (see class docstring)."""
        self._check_dim(teacher_logits)
        rows = teacher_logits.detach().float().reshape(-1, self.out_dim)
        stats = torch.cat([rows.sum(dim=0), rows.new_full((1,), float(rows.shape[0]))])
        handle = dist.all_reduce(stats, async_op=async_op) if distributed_is_active() else None
        self._pending = (stats, handle if async_op else None)
        if not async_op:
            self.synchronize()

    @torch.no_grad()
    def synchronize(self) -> None:
        """Wait for a pending (asynchronous) update and apply it to ``center``; no-op when none is pending."""
        if self._pending is None:
            return
        stats, handle = self._pending
        self._pending = None
        if handle is not None:
            handle.wait()
        count = stats[-1]
        if count > 0:
            batch_center = (stats[:-1] / count).to(self.center.dtype).unsqueeze(0)
            self.center.mul_(self.momentum).add_(batch_center, alpha=1.0 - self.momentum)

    def _check_dim(self, teacher_logits: Tensor) -> None:
        if teacher_logits.ndim < 1 or teacher_logits.shape[-1] != self.out_dim:
            raise ValueError(
                f"teacher_logits must have last dimension K={self.out_dim}, found shape {tuple(teacher_logits.shape)}."
            )

    def extra_repr(self) -> str:
        return f"out_dim={self.out_dim}, momentum={self.momentum}"


def _synchronize_before_save(module: nn.Module, prefix: str, keep_vars: bool) -> None:
    if isinstance(module, SoftmaxCentering):
        module.synchronize()


@torch.no_grad()
def sinkhorn_knopp(
    teacher_logits: Tensor, teacher_temp: float, n_iterations: int = 3, n_samples: int | None = None
) -> Tensor:
    """Sinkhorn-Knopp teacher targets ([DV2] ``sinkhorn_knopp_teacher``, [1] SwAV).

    With ``Q = exp(t / T).T`` of shape ``(K, B)`` (B = rows on all ranks), ``Q`` is divided by its global sum, then
    ``n_iterations`` times: rows (prototypes) are normalised to sum ``1/K`` (row sums all-reduced) and columns
    (samples) to ``1/B``; finally ``Q * B`` is returned transposed, so every sample's probabilities sum to 1 and
    every prototype gets ``B/K`` total mass (approximately, after 3 iterations).

    Before ``exp`` each prototype's logits are shifted by their maximum over all samples of all ranks (all-reduced
    with MAX). This is an exact no-op mathematically, since the first row normalisation cancels any per-prototype
    factor, and it prevents overflow and all-zero prototype rows (DINOv2's raw ``exp`` overflows for
    ``t / T > 88`` in float32). Computation is in float32.

    Args:
        teacher_logits: ``(N, K)`` teacher logits on this rank (N may be 0 on some ranks).
        teacher_temp: teacher temperature ``> 0``.
        n_iterations: number of row/column normalisation rounds, ``>= 1`` ([DV2] 3).
        n_samples: total number of rows ``B`` over all ranks. ``None`` all-reduces the local row count, which is
            exact for both DINO (``n_global * batch`` per rank) and iBOT (the number of masked patches, which
            differs between ranks; DINOv2 passes ``n_masked_patches`` all-reduced).

    Returns:
        float32 ``(N, K)`` target probabilities (rows sum to 1).

    Raises:
        ValueError: ``teacher_logits`` not 2-D, ``teacher_temp <= 0`` or ``n_iterations < 1``.
    """
    _check_temperature(teacher_temp)
    if teacher_logits.ndim != 2:
        raise ValueError(f"teacher_logits must be (N, K), found shape {tuple(teacher_logits.shape)}.")
    if n_iterations < 1:
        raise ValueError(f"n_iterations must be >= 1, found {n_iterations}.")
    active = distributed_is_active()
    scaled = teacher_logits.detach().float() / teacher_temp
    n_protos = scaled.shape[1]
    proto_max = scaled.amax(dim=0) if scaled.shape[0] > 0 else scaled.new_full((n_protos,), float("-inf"))
    if active:
        dist.all_reduce(proto_max, op=dist.ReduceOp.MAX)
    if n_samples is None:
        count = scaled.new_tensor(float(scaled.shape[0]))
        if active:
            dist.all_reduce(count)
        n_samples = int(count.item())
    if n_samples == 0 or not torch.isfinite(proto_max).all():
        return scaled.new_zeros(scaled.shape)
    q = torch.exp(scaled - proto_max).t()  # (K, N)
    total = q.sum()
    if active:
        dist.all_reduce(total)
    q /= total
    for _ in range(n_iterations):
        row_sums = q.sum(dim=1, keepdim=True)
        if active:
            dist.all_reduce(row_sums)
        q /= row_sums
        q /= n_protos
        q /= q.sum(dim=0, keepdim=True)
        q /= n_samples
    q *= n_samples
    return q.t()


class SinkhornKnoppCentering(TeacherCentering):
    """:func:`sinkhorn_knopp` as a module with the :class:`TeacherCentering` interface (no running state).

    Args:
        out_dim: number of prototypes ``K`` (checked against the logits).
        n_iterations: Sinkhorn-Knopp rounds ([DV2] 3).
    """

    def __init__(self, out_dim: int, n_iterations: int = 3) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"out_dim must be >= 1, found {out_dim}.")
        if n_iterations < 1:
            raise ValueError(f"n_iterations must be >= 1, found {n_iterations}.")
        self.out_dim = out_dim
        self.n_iterations = n_iterations

    def forward(self, teacher_logits: Tensor, teacher_temp: float) -> Tensor:
        """Targets for ``teacher_logits`` ``(..., K)`` (flattened to rows, normalised jointly, reshaped back)."""
        if teacher_logits.ndim < 1 or teacher_logits.shape[-1] != self.out_dim:
            raise ValueError(
                f"teacher_logits must have last dimension K={self.out_dim}, found shape {tuple(teacher_logits.shape)}."
            )
        rows = teacher_logits.reshape(-1, self.out_dim)
        return sinkhorn_knopp(rows, teacher_temp, n_iterations=self.n_iterations).reshape(teacher_logits.shape)

    def update(self, teacher_logits: Tensor, async_op: bool = False) -> None:
        """Sinkhorn-Knopp keeps no state across batches, so there is nothing to update."""
        return None

    def extra_repr(self) -> str:
        return f"out_dim={self.out_dim}, n_iterations={self.n_iterations}"


def _build_softmax_centering(out_dim: int, momentum: float, n_iterations: int) -> TeacherCentering:
    return SoftmaxCentering(out_dim, momentum=momentum)


def _build_sinkhorn_knopp(out_dim: int, momentum: float, n_iterations: int) -> TeacherCentering:
    return SinkhornKnoppCentering(out_dim, n_iterations=n_iterations)


#: [DV2] ``train.centering`` values -> factory ``(out_dim, momentum, n_iterations) -> TeacherCentering``.
CENTERING_REGISTRY: dict[str, Callable[[int, float, int], TeacherCentering]] = {
    "centering": _build_softmax_centering,
    "sinkhorn_knopp": _build_sinkhorn_knopp,
}


def build_centering(name: str, out_dim: int, momentum: float = 0.9, n_iterations: int = 3) -> TeacherCentering:
    """Build a teacher centering by its [DV2] ``train.centering`` name.

    Args:
        name: ``"centering"`` (softmax centering, [DV2] default) or ``"sinkhorn_knopp"``.
        out_dim: number of prototypes ``K``.
        momentum: centre EMA momentum (softmax centering only).
        n_iterations: Sinkhorn-Knopp rounds (Sinkhorn-Knopp only).

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names).
    """
    if name not in CENTERING_REGISTRY:
        raise ValueError(f"Unknown centering {name!r}; valid values are {sorted(CENTERING_REGISTRY)}.")
    return CENTERING_REGISTRY[name](out_dim, momentum, n_iterations)

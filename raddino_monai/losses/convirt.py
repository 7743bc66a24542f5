"""ConVIRT bidirectional image-text InfoNCE loss on cosine similarity, with negatives from every DDP rank.

For a batch of ``N`` image-text pairs with image embeddings ``v_i`` and text embeddings ``u_i`` ([PAPER-CV] §2.2):

* image-to-text: ``l(v->u)_i = -log( exp(<v_i, u_i> / tau) / sum_k exp(<v_i, u_k> / tau) )``
* text-to-image: ``l(u->v)_i = -log( exp(<u_i, v_i> / tau) / sum_k exp(<u_i, v_k> / tau) )``
* ``loss = (1/N) * sum_i [ lambda * l(v->u)_i + (1 - lambda) * l(u->v)_i ]``

where ``<., .>`` is the cosine similarity, ``tau = 0.1`` and ``lambda = 0.75`` ([PAPER-CV] §3 / appendix
hyper-parameters; the same values are ``loss.temperature`` / ``loss.alpha_weight`` in [RE] ``config.yaml``). Only
image-text pairs are contrasted (no image-image or text-text terms), as in [RE] ``loss/nt_xent.py``.

Distributed training: when a :mod:`torch.distributed` process group is active (and ``gather_distributed``), the
L2-normalised embeddings of every rank are all-gathered **with gradients** (:class:`GatherWithGrad`: backward
all-reduces the gradient of the gathered matrix and returns this rank's slice), so each local pair is contrasted
against the ``N`` pairs of the global batch. The positives of local row ``i`` sit at column ``offset + i`` of the
gathered matrix, ``offset`` being the number of rows on lower ranks. Ranks may hold different numbers of rows (the
last batch without ``drop_last``); the local loss is ``sum_{i local} l_i * world_size / N``, so the average over ranks
that DDP applies to gradients is exactly the gradient of the single-process loss on the global batch (for equal
per-rank batches the local loss is simply the local mean).

References:
    - [PAPER-CV] Zhang et al., Contrastive Learning of Medical Visual Representations from Paired Images and Text,
      MLHC 2022, https://arxiv.org/abs/2010.00747.
    - [RE] edreisMD/ConVIRT-pytorch @ c99ca5f (unofficial re-implementation; official code was not released).
    - [1] Oord et al., Representation Learning with Contrastive Predictive Coding (InfoNCE), 2018.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from raddino_monai.losses.centering import distributed_is_active

__all__ = ["ConVIRTLoss", "GatherWithGrad", "gather_with_grad"]


class GatherWithGrad(torch.autograd.Function):
    """All-gather rows of every rank along dim 0, keeping the autograd graph (any per-rank row count).

    Forward: each rank's rows are zero-padded to the largest count, all-gathered, and the padding is removed, giving
    ``(sum of counts, ...)`` in rank order. Backward: the gradient of the gathered tensor is all-reduced (summed over
    ranks, since every rank's loss may use every row) and this rank's slice is returned. Use
    :func:`gather_with_grad`, which also exchanges the row counts.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, x: Tensor, counts: tuple[int, ...]
    ) -> Tensor:
        padded = x.new_zeros((max(counts), *x.shape[1:]))
        padded[: x.shape[0]] = x
        chunks = [torch.empty_like(padded) for _ in counts]
        dist.all_gather(chunks, padded.contiguous())
        rank = dist.get_rank()
        ctx.start, ctx.count = sum(counts[:rank]), counts[rank]  # type: ignore[attr-defined]
        return torch.cat([c[:n] for c, n in zip(chunks, counts)], dim=0)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start, count = ctx.start, ctx.count  # type: ignore[attr-defined]
        return grad[start : start + count], None


def gather_with_grad(x: Tensor) -> tuple[Tensor, int]:
    """Rows of ``x`` from all ranks (with gradients) and the offset of this rank's rows; identity without DDP.

    Args:
        x: ``(B_local, ...)`` tensor (``B_local`` may differ between ranks).

    Returns:
        ``(gathered (B_global, ...), offset)`` where ``gathered[offset : offset + B_local]`` are this rank's rows;
        ``(x, 0)`` without an active process group or with a single rank.
    """
    if not distributed_is_active() or dist.get_world_size() == 1:
        return x, 0
    local = torch.tensor([x.shape[0]], dtype=torch.long, device=x.device)
    sizes = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, local)
    counts = tuple(int(s.item()) for s in sizes)
    return GatherWithGrad.apply(x, counts), sum(counts[: dist.get_rank()])


class ConVIRTLoss(nn.Module):
    """Bidirectional image-text InfoNCE of ConVIRT (see the module docstring for the maths).

    Args:
        temperature: softmax temperature ``tau > 0`` applied to cosine similarities; [PAPER-CV] 0.1
            ([RE] ``loss.temperature: 0.1``).
        image_to_text_weight: ``lambda`` in [0, 1], the weight of the image-to-text term (the text-to-image term gets
            ``1 - lambda``); [PAPER-CV] 0.75 ([RE] ``loss.alpha_weight: 0.75``).
        gather_distributed: contrast against the embeddings of all ranks when a process group is active
            ([PAPER-CV] trains on one GPU with batch 32, so the negatives are the whole batch; gathering keeps that
            meaning under DDP). ``False`` uses only the local rows as negatives.
        eps: L2-normalisation epsilon.

    Raises:
        ValueError: ``temperature <= 0`` or ``image_to_text_weight`` outside [0, 1].

    Example:
        >>> loss_fn = ConVIRTLoss()
        >>> v, u = torch.randn(8, 512), torch.randn(8, 512)
        >>> loss = loss_fn(v, u)                      # scalar
        >>> terms = loss_fn.terms(v, u)               # loss, both directions, in-batch top-1 accuracies
    """

    def __init__(
        self,
        temperature: float = 0.1,
        image_to_text_weight: float = 0.75,
        gather_distributed: bool = True,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, found {temperature}.")
        if not 0.0 <= image_to_text_weight <= 1.0:
            raise ValueError(f"image_to_text_weight (lambda) must be in [0, 1], found {image_to_text_weight}.")
        self.temperature = float(temperature)
        self.image_to_text_weight = float(image_to_text_weight)
        self.gather_distributed = gather_distributed
        self.eps = eps

    def _check(self, image_embeddings: Tensor, text_embeddings: Tensor) -> None:
        if image_embeddings.ndim != 2 or text_embeddings.ndim != 2:
            raise ValueError(
                "ConVIRTLoss expects (B, D) image and text embeddings, found shapes "
                f"{tuple(image_embeddings.shape)} and {tuple(text_embeddings.shape)}."
            )
        if image_embeddings.shape != text_embeddings.shape:
            raise ValueError(
                "image and text embeddings must have the same shape (one text per image, same projection dim), "
                f"found {tuple(image_embeddings.shape)} and {tuple(text_embeddings.shape)}."
            )
        if image_embeddings.shape[0] == 0:
            raise ValueError("ConVIRTLoss needs at least one image-text pair on each rank, found an empty batch.")

    def terms(self, image_embeddings: Tensor, text_embeddings: Tensor) -> dict[str, Tensor]:
        """The loss and its parts for logging.

        Args:
            image_embeddings: ``(B, D)`` projected image embeddings ``v`` of this rank (not necessarily normalised).
            text_embeddings: ``(B, D)`` projected text embeddings ``u``; row ``i`` is the text paired with image ``i``.

        Returns:
            float32 scalars: ``"loss"`` (with gradient); detached ``"loss_image_to_text"``, ``"loss_text_to_image"``
            (means of ``l(v->u)`` and ``l(u->v)`` over the local rows) and ``"accuracy_image_to_text"``,
            ``"accuracy_text_to_image"`` (fraction of local rows whose positive has the largest similarity among the
            global batch: the in-batch retrieval accuracy).

        Raises:
            ValueError: the embeddings are not both ``(B, D)`` with the same shape, or ``B == 0``.
        """
        self._check(image_embeddings, text_embeddings)
        dtype = torch.promote_types(image_embeddings.dtype, torch.float32)  # float64 stays float64 (gradcheck)
        with torch.autocast(device_type=image_embeddings.device.type, enabled=False):
            v = F.normalize(image_embeddings.to(dtype), dim=-1, eps=self.eps)
            u = F.normalize(text_embeddings.to(dtype), dim=-1, eps=self.eps)
            gathered = self.gather_distributed and distributed_is_active()
            if gathered:  # one collective for both towers: the rows are the same pairs
                both, offset = gather_with_grad(torch.cat([v, u], dim=1))
                all_v, all_u = both.split(v.shape[1], dim=1)
            else:
                all_v, all_u, offset = v, u, 0
            n_local, n_global = v.shape[0], all_v.shape[0]
            targets = torch.arange(offset, offset + n_local, device=v.device)
            logits_v2u = v @ all_u.t() / self.temperature  # (B_local, N): row i's positive is column offset + i
            logits_u2v = u @ all_v.t() / self.temperature
            per_v2u = F.cross_entropy(logits_v2u, targets, reduction="none")
            per_u2v = F.cross_entropy(logits_u2v, targets, reduction="none")
            lam = self.image_to_text_weight
            # DDP averages gradients over ranks: scale so that the average is the global-batch mean
            scale = (dist.get_world_size() if gathered else 1) / n_global
            loss = (lam * per_v2u + (1.0 - lam) * per_u2v).sum() * scale
        with torch.no_grad():
            return {
                "loss": loss,
                "loss_image_to_text": per_v2u.detach().mean(),
                "loss_text_to_image": per_u2v.detach().mean(),
                "accuracy_image_to_text": (logits_v2u.argmax(dim=1) == targets).to(dtype).mean(),
                "accuracy_text_to_image": (logits_u2v.argmax(dim=1) == targets).to(dtype).mean(),
            }

    def forward(self, image_embeddings: Tensor, text_embeddings: Tensor) -> Tensor:
        """ConVIRT loss of this rank's pairs.

        Args:
            image_embeddings: ``(B, D)`` projected image embeddings (normalised here).
            text_embeddings: ``(B, D)`` projected text embeddings, paired row by row.

        Returns:
            scalar loss (float32, or float64 for float64 inputs). Without DDP: the mean over the batch of
            ``lambda * l(v->u) + (1 - lambda) * l(u->v)``.
        """
        return self.terms(image_embeddings, text_embeddings)["loss"]

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, image_to_text_weight={self.image_to_text_weight}, "
            f"gather_distributed={self.gather_distributed}"
        )


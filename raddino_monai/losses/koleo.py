"""KoLeo regulariser: pushes each embedding away from its nearest neighbour in the batch (uniform spreading).

``loss = -(1/B) * sum_i log(d_i + eps)``, where for L2-normalised rows ``x_i`` the nearest neighbour ``j(i)`` is the
other row with the largest inner product and ``d_i = || x_i - x_{j(i)} + eps ||_2`` ([DV2] uses
``nn.PairwiseDistance(2, eps=1e-8)``, which adds ``eps`` to the difference). [DV2] applies it with weight 0.1 to
the student backbone's normed CLS token, separately for each global crop (``x.chunk(2)``), per GPU.

Numerical robustness (the known DINOv2 ``koleo_loss: inf`` issues, dinov2 #143/#314/#492):

* everything runs in float32 with autocast disabled; in fp16, ``eps = 1e-8`` underflows to 0 and a duplicate row
  (distance 0) gives ``log(0) = -inf``. In float32 a duplicate gives ``d_i = eps * sqrt(D)``, so the loss is large
  (about ``-log(eps * (sqrt(D) + 1))``, ~16 for D = 768) but finite, and so is its gradient;
* a batch of one row has no neighbour: the loss is 0 (attached to the input so ``backward`` works), not NaN.

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/loss/koleo_loss.py``; ``train/ssl_meta_arch.py``.
    - [0] Sablayrolles et al., Spreading vectors for similarity search, ICLR 2019, https://arxiv.org/abs/1806.03198.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["KoLeoLoss"]


class KoLeoLoss(nn.Module):
    """Kozachenko-Leonenko entropy estimator loss on L2-normalised embeddings.

    Args:
        eps: added to norms and distances ([DV2] 1e-8).

    Example:
        >>> koleo = KoLeoLoss()
        >>> loss = 0.1 * sum(koleo(c) for c in torch.randn(8, 32).chunk(2))   # [DV2] weight 0.1, per global crop
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"eps must be > 0, found {eps}.")
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """KoLeo loss of a batch.

        Args:
            x: ``(B, D)`` embeddings (any float dtype; computed in float32).

        Returns:
            float32 scalar; 0 when ``B < 2``.

        Raises:
            ValueError: ``x`` is not 2-D.
        """
        if x.ndim != 2:
            raise ValueError(f"KoLeoLoss expects (B, D) embeddings, found shape {tuple(x.shape)}.")
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            if x.shape[0] < 2:
                return x.sum() * 0.0
            x = F.normalize(x, p=2, dim=-1, eps=self.eps)
            with torch.no_grad():
                dots = x @ x.t()
                dots.fill_diagonal_(-2.0)  # below any cosine similarity: a row is never its own neighbour
                nearest = dots.argmax(dim=1)
            distances = F.pairwise_distance(x, x[nearest], p=2, eps=self.eps)
            return -torch.log(distances + self.eps).mean()

    def extra_repr(self) -> str:
        return f"eps={self.eps}"

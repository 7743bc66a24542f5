"""ConVIRT's non-linear projection head ``g(h) = W2 ReLU(W1 h)`` (one per modality).

[PAPER-CV] §2.3 models ``g_v`` and ``g_u`` as single-hidden-layer networks with a ReLU, projecting to ``d = 512``.
The hidden width is the input width in [RE] ``models/model.py`` (``res_l1 = Linear(2048, 2048)``,
``bert_l1 = Linear(768, 768)``); the paper does not state it.

References:
    - [PAPER-CV] Zhang et al., arXiv 2010.00747.
    - [RE] edreisMD/ConVIRT-pytorch @ c99ca5f.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ProjectionHead"]


class ProjectionHead(nn.Module):
    """``Linear(in_dim, hidden_dim) -> ReLU -> Linear(hidden_dim, out_dim)``.

    Args:
        in_dim: encoder output width (2048 for ResNet-50, 768 for ViT-B / BERT-base).
        out_dim: shared embedding width ``d``; [PAPER-CV] 512 ([RE] ``model.out_dim: 512``).
        hidden_dim: hidden width; ``None`` = ``in_dim`` ([RE]).

    Raises:
        ValueError: a width < 1.

    Example:
        >>> ProjectionHead(768)(torch.randn(4, 768)).shape
        torch.Size([4, 512])
    """

    def __init__(self, in_dim: int, out_dim: int = 512, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden = in_dim if hidden_dim is None else hidden_dim
        if min(in_dim, out_dim, hidden) < 1:
            raise ValueError(f"ProjectionHead widths must be >= 1, found in={in_dim}, hidden={hidden}, out={out_dim}.")
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden, out_dim
        self.fc1 = nn.Linear(in_dim, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, out_dim)

    def forward(self, h: Tensor) -> Tensor:
        """Args: h: ``(B, in_dim)`` encoder features. Returns: ``(B, out_dim)`` (not normalised)."""
        return self.fc2(self.act(self.fc1(h)))

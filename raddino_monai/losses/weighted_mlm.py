"""Token-weighted masked-language-modelling loss (ECAMP's entity-aware MLM).

``loss = sum_{b,t} w_{b,t} * CE(logits_{b,t}, label_{b,t}) / (B * T)``: per-token cross-entropy (``reduction="none"``),
times the per-token weights of the entity-aware masking transform, averaged over *every* position
([ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/bert_modeling.py`` lines 211-217). Labels equal to
``ignore_index`` contribute 0 but still count in ``B * T`` (ECAMP's labels are the original ids at every position, so
nothing is ignored there). ``normalize_by="labelled_weight"`` divides by the summed weight of the labelled positions
instead (the usual mean when labels exist only at masked positions).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["WeightedMLMLoss", "MLM_NORMALIZATIONS"]

#: valid values of ``WeightedMLMLoss(normalize_by=...)``
MLM_NORMALIZATIONS = ("all_tokens", "labelled_weight")


class WeightedMLMLoss(nn.Module):
    """Per-token weighted cross-entropy.

    Args:
        normalize_by: ``"all_tokens"`` (ECAMP, default) or ``"labelled_weight"``.
        ignore_index: label of positions without a target (transformers convention -100).

    Raises:
        ValueError: unknown ``normalize_by`` (valid values listed).

    Example:
        >>> logits = torch.zeros(1, 2, 4)  # uniform over 4 tokens: CE = log 4 everywhere
        >>> WeightedMLMLoss()(logits, torch.tensor([[1, 2]]), torch.tensor([[1.5, 0.5]]))
        tensor(1.3863)
    """

    def __init__(self, normalize_by: str = "all_tokens", ignore_index: int = -100) -> None:
        super().__init__()
        if normalize_by not in MLM_NORMALIZATIONS:
            raise ValueError(f"normalize_by must be one of {list(MLM_NORMALIZATIONS)}; got {normalize_by!r}.")
        self.normalize_by = normalize_by
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
        """Loss of one batch.

        Args:
            logits: ``(B, T, V)`` MLM scores.
            labels: ``(B, T)`` target ids (``ignore_index`` = no target).
            weights: ``(B, T)`` per-token loss weights; None = all ones.

        Returns:
            float32 scalar.

        Raises:
            ValueError: shapes that do not match, or no labelled weight with ``"labelled_weight"``.
        """
        if logits.ndim != 3 or tuple(labels.shape) != tuple(logits.shape[:2]):
            raise ValueError(f"WeightedMLMLoss expects logits (B, T, V) and labels (B, T); found "
                             f"{tuple(logits.shape)} and {tuple(labels.shape)}.")
        if weights is None:
            weights = torch.ones(labels.shape, device=logits.device)
        elif tuple(weights.shape) != tuple(labels.shape):
            raise ValueError(f"weights must be (B, T) = {tuple(labels.shape)}; found {tuple(weights.shape)}.")
        with torch.autocast(device_type=logits.device.type, enabled=False):
            ce = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=self.ignore_index,
                                 reduction="none")
            weighted = (ce * weights.float().flatten()).sum()
            if self.normalize_by == "all_tokens":
                return weighted / labels.numel()
            labelled = (weights.float().flatten() * (labels.flatten() != self.ignore_index)).sum()
            if float(labelled) == 0:
                raise ValueError("WeightedMLMLoss(normalize_by='labelled_weight') got no labelled weight.")
            return weighted / labelled

    def extra_repr(self) -> str:
        return f"normalize_by={self.normalize_by!r}, ignore_index={self.ignore_index}"

"""ECAMP's multi-scale context fusion layer: report tokens attend to the image at patch and image level.

[ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/context_fusion.py`` (``ECAMPFusionLayer``) and
``bert_modeling.py`` (lines 79-143, ``MultimodalBertModel.forward``). One fusion layer sits between the BERT
embeddings and the (plain, self-attention-only) BERT encoder layers:

1. text self-attention (a BERT attention block: ``attention.self`` + ``attention.output`` = dense, dropout,
   post-LayerNorm residual), padding masked as keys;
2. **fine scale**: cross-attention from the text tokens (queries) to the projected *visible patch tokens* of the
   masked image (keys/values), BERT ``SelfAttention`` maths, no image mask (``img_mask`` is all ones);
3. **coarse scale**: the global average of those patch tokens (the "GAP token"), through ``gap_mlp``
   (``Linear(H, H)``), is added to every position of the cross-attention context;
4. ``out_layer`` (dense, dropout, LayerNorm with the self-attention output as residual), then the BERT feed-forward
   (``intermediate`` + ``output``).

These two image scales (patch tokens and their global average) are what the paper calls "multi-scale context
fusion ... of both coarse and fine-level image representations" (arXiv 2312.13316 abstract). Sub-module names follow
ECAMP's, so the layer's weights in an ECAMP checkpoint (``bert_encoder.model.bert.context_fusion_layer.*``) load by
name after the prefix is stripped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertAttention, BertIntermediate, BertOutput, BertSelfOutput

__all__ = ["ImageCrossAttention", "ContextFusionLayer", "additive_padding_mask"]


def additive_padding_mask(attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
    """``(B, T)`` 1 = token / 0 = padding -> ``(B, 1, 1, T)`` additive mask (0 or the dtype's minimum).

    The broadcastable form BERT attention takes (``get_extended_attention_mask``), built here so the same code runs
    on transformers 4.x and 5.x.
    """
    keep = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


class ImageCrossAttention(nn.Module):
    """BERT-style multi-head cross-attention: queries from text, keys and values from image tokens.

    Same maths as transformers ``BertSelfAttention`` called with ``encoder_hidden_states`` (what ECAMP does, with
    an all-ones image mask): ``softmax(q k^T / sqrt(d_head))`` with dropout on the probabilities, then ``v``.

    Args:
        config: BERT config (``hidden_size``, ``num_attention_heads``, ``attention_probs_dropout_prob``).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        hidden, heads = int(config.hidden_size), int(config.num_attention_heads)
        if hidden % heads:
            raise ValueError(f"hidden_size {hidden} is not divisible by num_attention_heads {heads}.")
        self.num_heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.num_heads, d // self.num_heads).transpose(1, 2)

    def forward(self, text: Tensor, image: Tensor) -> tuple[Tensor, Tensor]:
        """Attend from ``text (B, T, H)`` to ``image (B, K, H)``.

        Returns:
            ``(context (B, T, H), probabilities (B, heads, T, K))`` (probabilities before dropout).
        """
        q, k, v = self._heads(self.query(text)), self._heads(self.key(image)), self._heads(self.value(image))
        scores = q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5)
        probs = F.softmax(scores.float(), dim=-1).to(q.dtype)
        context = self.dropout(probs) @ v
        b, _, t, _ = context.shape
        return context.transpose(1, 2).reshape(b, t, -1), probs


class ContextFusionLayer(nn.Module):
    """One ECAMP fusion layer (see the module docstring for the four steps).

    Args:
        config: the report decoder's BERT config (width, heads, dropouts, LayerNorm eps, feed-forward size).

    Example:
        >>> from transformers import BertConfig
        >>> layer = ContextFusionLayer(BertConfig(hidden_size=32, num_attention_heads=4, intermediate_size=64))
        >>> out, attn = layer(torch.randn(2, 7, 32), torch.ones(2, 7), torch.randn(2, 5, 32))
        >>> out.shape, attn.shape
        (torch.Size([2, 7, 32]), torch.Size([2, 4, 7, 5]))
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        hidden = int(config.hidden_size)
        self.attention = BertAttention(config)  # [ECAMP] context_fusion.py line 12
        self.cross_self_attention = ImageCrossAttention(config)  # line 15
        self.gap_mlp = nn.Linear(hidden, hidden)  # line 18
        self.out_layer = BertSelfOutput(config)  # line 19
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(
        self,
        text: Tensor,
        attention_mask: Tensor,
        image_tokens: Tensor,
        global_token: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Fuse image context into the text embeddings.

        Args:
            text: ``(B, T, H)`` BERT embeddings.
            attention_mask: ``(B, T)`` 1 = token, 0 = padding.
            image_tokens: ``(B, K, H)`` projected visible patch tokens (fine scale).
            global_token: ``(B, 1, H)`` projected global image token (coarse scale); default: the mean of
                ``image_tokens`` ([ECAMP] ``model_ecamp.py`` line 269).

        Returns:
            ``(fused (B, T, H), cross-attention probabilities (B, heads, T, K))``.

        Raises:
            ValueError: batch sizes or widths that do not match.
        """
        if image_tokens.shape[0] != text.shape[0] or image_tokens.shape[-1] != text.shape[-1]:
            raise ValueError(
                f"ContextFusionLayer: text {tuple(text.shape)} and image tokens {tuple(image_tokens.shape)} need the "
                "same batch size and width (project the image tokens to the BERT width first)."
            )
        if global_token is None:
            global_token = image_tokens.mean(dim=1, keepdim=True)
        mask = additive_padding_mask(attention_mask, text.dtype)
        attended = self.attention(text, mask)[0]
        context, probs = self.cross_self_attention(attended, image_tokens)
        context = context + self.gap_mlp(global_token)  # [ECAMP] context_fusion.py lines 54-55
        fused = self.out_layer(context, attended)
        return self.output(self.intermediate(fused), fused), probs

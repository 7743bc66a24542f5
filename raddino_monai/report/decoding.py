"""Greedy decoding without a KV cache: every step runs the LM on the whole sequence again.

transformers' ``generate`` always keeps a KV cache when it starts from ``inputs_embeds`` on a decoder-only model
(5.23 ``generation/utils.py``: "decoder-only models with inputs_embeds forwarding must use caching"), so
``use_cache=False`` there changes nothing. This loop is the uncached path of
:meth:`raddino_monai.report.model.ReportGenerator.generate_ids`: the reference the cached path is tested against and
the slow side of ``tools/benchmark_report.py``. Same rules as the cached path: positions count from each row's first
real token (left padding), the placeholder id is never chosen, no eos before ``min_new_tokens``, finished rows are
padded with the pad id, the loop stops when every row has produced eos.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["greedy_without_cache"]


@torch.no_grad()
def greedy_without_cache(
    lm: nn.Module,
    embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
    min_new_tokens: int = 0,
    suppress_token_id: int | None = None,
) -> torch.Tensor:
    """Greedy tokens after left-padded prompt embeddings, recomputing the whole sequence at every step.

    Args:
        lm: a causal LM taking ``inputs_embeds``, ``attention_mask``, ``position_ids``.
        embeds: ``(B, T, H)`` prompt embeddings (image tokens spliced in), left-padded.
        attention_mask: ``(B, T)``.
        max_new_tokens: steps at most.
        eos_token_id: stops a row.
        pad_token_id: fills finished rows.
        min_new_tokens: eos is forbidden before this many tokens.
        suppress_token_id: an id never generated (the image placeholder), if inside the vocabulary.

    Returns:
        ``(B, L)`` token ids, ``L <= max_new_tokens``.
    """
    embed_tokens = lm.get_input_embeddings()
    batch = embeds.shape[0]
    finished = torch.zeros(batch, dtype=torch.bool, device=embeds.device)
    tokens: list[torch.Tensor] = []
    for step in range(max_new_tokens):
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        logits = lm(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions, use_cache=False,
                    logits_to_keep=1).logits[:, -1].float()
        if suppress_token_id is not None and suppress_token_id < logits.shape[-1]:
            logits[:, suppress_token_id] = float("-inf")
        if step < min_new_tokens:
            logits[:, eos_token_id] = float("-inf")
        next_token = logits.argmax(dim=-1).masked_fill(finished, pad_token_id)
        tokens.append(next_token)
        finished |= next_token == eos_token_id
        if bool(finished.all()):
            break
        embeds = torch.cat([embeds, embed_tokens(next_token)[:, None].to(embeds.dtype)], dim=1)
        attention_mask = torch.cat([attention_mask, torch.ones_like(attention_mask[:, :1])], dim=1)
    return torch.stack(tokens, dim=1)

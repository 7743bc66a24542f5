"""Report text -> token sequences for pretraining: the truncation policy, the dataset and the two collates.

**Truncation policy** (:func:`truncate_report`, used by every encoder here and meant for the report-generation
targets too): a report whose tokens exceed the budget is cut after the last *whole sentence* that fits
(:func:`raddino_monai.transforms.text.split_sentences`), so a target never ends mid-sentence; only when the first
sentence alone is longer than the budget is it cut at the token limit. Causal-LM sequences are
``<s> report </s>`` and keep ``</s>`` only when the report was not cut mid-sentence (the model should not learn to
stop mid-sentence); MLM sequences are ``[CLS] report [SEP]`` (BERT, as CheXbert cuts at 512).

**Collates**: :class:`CausalLMCollate` pads right and sets labels to -100 on padding (``transformers`` shifts labels
inside the model). :class:`MLMCollate` selects 15 % of the non-special tokens and replaces 80 % of them by
``[MASK]``, 10 % by a random token, keeps 10 % (BERT), drawing from a generator seeded by the seeds of the batch's
items (:class:`raddino_monai.data.samplers.SeededDataset`), so masks do not depend on workers or on resuming.

Example:
    >>> from raddino_monai.text.tokenizer import train_bpe_tokenizer
    >>> tok = train_bpe_tokenizer(["No effusion. Heart size is normal."] * 20, vocab_size=300)
    >>> truncate_report("No effusion. Heart size is normal.", tok, max_tokens=4)
    'No effusion.'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from raddino_monai.data.samplers import SEED_KEY, derive_seed
from raddino_monai.transforms.text import split_sentences

__all__ = ["OBJECTIVES", "truncate_report", "encode_report", "TokenizedReports", "CausalLMCollate", "MLMCollate",
           "mask_tokens", "split_validation"]  # fmt: skip

#: pretraining objectives
OBJECTIVES: tuple[str, ...] = ("causal", "mlm")
IGNORE_INDEX = -100  # label value ignored by transformers' cross-entropy


def _ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _truncate(text: str, tokenizer: PreTrainedTokenizerBase, max_tokens: int) -> tuple[list[int], bool]:
    """Token ids of ``text`` within ``max_tokens`` and whether the cut (if any) fell at a sentence end."""
    ids = _ids(tokenizer, text)
    if len(ids) <= max_tokens:
        return ids, True
    sentences = split_sentences(text)
    for k in range(len(sentences) - 1, 0, -1):
        prefix = _ids(tokenizer, " ".join(sentences[:k]))
        if len(prefix) <= max_tokens:
            return prefix, True
    return ids[:max_tokens], False


def truncate_report(text: str, tokenizer: PreTrainedTokenizerBase, max_tokens: int) -> str:
    """The report cut to at most ``max_tokens`` tokens (no special tokens counted) by the policy above.

    Args:
        text: report text.
        tokenizer: the model's tokenizer (tokens are counted with it).
        max_tokens: token budget (>= 1).

    Returns:
        ``text`` unchanged if it fits; else its longest sentence prefix that fits (whitespace normalised); else the
        decoded first ``max_tokens`` tokens.

    Raises:
        ValueError: ``max_tokens < 1``.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, found {max_tokens}.")
    ids, _ = _truncate(text, tokenizer, max_tokens)
    if len(ids) == len(_ids(tokenizer, text)):
        return text
    return tokenizer.decode(ids, skip_special_tokens=True)


def encode_report(text: str, tokenizer: PreTrainedTokenizerBase, max_length: int, objective: str) -> list[int]:
    """Token ids of one training sequence.

    Args:
        text: report text.
        tokenizer: BPE (causal) or WordPiece (mlm) tokenizer.
        max_length: sequence length including the 2 special tokens (>= 3).
        objective: ``"causal"`` (``<s> ... </s>``) or ``"mlm"`` (``[CLS] ... [SEP]``).

    Returns:
        the ids.

    Raises:
        ValueError: unknown objective (valid values listed), ``max_length < 3`` or a missing special token.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not valid; valid values are {list(OBJECTIVES)}.")
    if max_length < 3:
        raise ValueError(f"max_length must be >= 3 (two special tokens and one token), found {max_length}.")
    first, last = ((tokenizer.bos_token_id, tokenizer.eos_token_id) if objective == "causal"
                   else (tokenizer.cls_token_id, tokenizer.sep_token_id))  # fmt: skip
    if first is None or last is None:
        raise ValueError(f"the tokenizer lacks the special tokens of objective {objective!r}: use the BPE tokenizer "
                         "for 'causal' and the WordPiece tokenizer for 'mlm' (raddino_monai.text.tokenizer).")
    ids, complete = _truncate(text, tokenizer, max_length - 2)
    keep_last = complete or objective == "mlm"
    return [first, *ids, *([last] if keep_last else [])]


class TokenizedReports(Dataset):
    """Reports encoded once (:func:`encode_report`); items are ``{"input_ids": list[int]}``.

    Args:
        texts: reports.
        tokenizer: see :func:`encode_report`.
        max_length: sequence length with special tokens.
        objective: ``"causal"`` or ``"mlm"``.
    """

    def __init__(self, texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int, objective: str):
        self.sequences = [encode_report(t, tokenizer, max_length, objective) for t in texts]

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.sequences[index]}

    def num_tokens(self) -> int:
        """Tokens over all sequences (special tokens included)."""
        return sum(len(s) for s in self.sequences)


def _pad(items: Sequence[dict[str, Any]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(i["input_ids"]) for i in items)
    ids = torch.full((len(items), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), longest), dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item["input_ids"])
        ids[row, :n] = torch.as_tensor(item["input_ids"], dtype=torch.long)
        mask[row, :n] = 1
    return ids, mask


class CausalLMCollate:
    """Right-padded batch for causal LM training.

    Args:
        pad_token_id: padding id.

    Returns (on call):
        ``input_ids`` / ``attention_mask`` / ``labels``, each ``(B, L)`` long; ``labels`` = ``input_ids`` with
        -100 on padding.
    """

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids, mask = _pad(items, self.pad_token_id)
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, IGNORE_INDEX)}


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_token_id: int,
    vocab_size: int,
    generator: torch.Generator,
    probability: float = 0.15,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking.

    Args:
        input_ids: ``(B, L)`` ids.
        maskable: ``(B, L)`` bool, False on special tokens and padding.
        mask_token_id: ``[MASK]`` id.
        vocab_size: random replacements are drawn from ``[0, vocab_size)``.
        generator: source of every draw.
        probability: share of maskable tokens selected.
        mask_replace_prob: selected tokens set to ``[MASK]``.
        random_replace_prob: selected tokens set to a random id (the rest stay unchanged).

    Returns:
        ``(masked_ids, labels)``, both ``(B, L)``: labels hold the original id at selected positions, -100 elsewhere.
        When the draw selects nothing in the batch, one maskable token is selected (a batch without targets has a
        NaN loss).

    Raises:
        ValueError: probabilities outside [0, 1] or replacement shares summing above 1.
    """
    if not (0 <= probability <= 1 and 0 <= mask_replace_prob <= 1 and 0 <= random_replace_prob <= 1
            and mask_replace_prob + random_replace_prob <= 1):  # fmt: skip
        raise ValueError(f"need probabilities in [0, 1] and mask + random <= 1, found {probability}, "
                         f"{mask_replace_prob}, {random_replace_prob}.")  # fmt: skip
    selected = (torch.rand(input_ids.shape, generator=generator) < probability) & maskable
    if probability > 0 and not selected.any() and maskable.any():  # a batch without targets would give a NaN loss
        candidates = maskable.flatten().nonzero().flatten()
        pick = candidates[torch.randint(len(candidates), (1,), generator=generator)]
        selected = selected.flatten().index_fill(0, pick, True).view_as(selected)
    labels = input_ids.masked_fill(~selected, IGNORE_INDEX)
    draw = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (draw < mask_replace_prob)
    to_random = selected & (draw >= mask_replace_prob) & (draw < mask_replace_prob + random_replace_prob)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    masked = input_ids.masked_fill(to_mask, mask_token_id)
    masked = torch.where(to_random, random_ids, masked)
    return masked, labels


class MLMCollate:
    """Padded, BERT-masked batch; masks drawn from the items' seeds.

    Args:
        tokenizer: WordPiece tokenizer (``[MASK]``, ``[PAD]`` and special ids).
        probability, mask_replace_prob, random_replace_prob: see :func:`mask_tokens`.
        seed: used with a call counter when the items carry no seeds (a plain dataset).

    Returns (on call):
        ``input_ids`` (masked), ``attention_mask``, ``labels``: ``(B, L)`` long.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        seed: int = 0,
    ) -> None:
        if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("MLMCollate needs a tokenizer with [MASK] and [PAD] (raddino_monai.text.tokenizer."
                             "train_wordpiece_tokenizer).")  # fmt: skip
        self.mask_token_id, self.pad_token_id = tokenizer.mask_token_id, tokenizer.pad_token_id
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        self.vocab_size = len(tokenizer)
        self.probability, self.mask_replace_prob = probability, mask_replace_prob
        self.random_replace_prob, self.seed, self._calls = random_replace_prob, seed, 0

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        seeds = [int(i[SEED_KEY]) for i in items if SEED_KEY in i]
        if not seeds:
            seeds, self._calls = [self.seed, self._calls], self._calls + 1
        generator = torch.Generator().manual_seed(derive_seed(*seeds))
        ids, mask = _pad(items, self.pad_token_id)
        maskable = (mask == 1) & ~torch.isin(ids, self.special_ids)
        masked, labels = mask_tokens(ids, maskable, self.mask_token_id, self.vocab_size, generator,
                                     self.probability, self.mask_replace_prob, self.random_replace_prob)
        return {"input_ids": masked, "attention_mask": mask, "labels": labels}


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into (train, validation) indices; at least one training item is kept."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(int(round(n * fraction)), n - 1) if fraction > 0 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])

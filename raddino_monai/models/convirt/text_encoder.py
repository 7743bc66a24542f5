"""Text encoder ``f_u`` for ConVIRT: a local transformers BERT-style model, partly frozen, with token pooling.

[PAPER-CV] §3 uses ClinicalBERT (``emilyalsentzer/Bio_ClinicalBERT``, BERT-base) with the embeddings and the first 6
transformer layers frozen and only the upper layers fine-tuned, and turns the output vectors into ``h_u`` with a
max-pooling layer over all of them. The unofficial re-implementations differ: [RE] freezes ``encoder.layer[0..5]``
but not the embeddings and mean-pools with the attention mask; [RE2] freezes embeddings + layers 0..5 and max-pools.
Both variants are options here (``freeze_embeddings``, ``pooling``). Nothing is downloaded: the model and tokenizer
are read from a local folder (``local_files_only=True``), e.g. a copy of ClinicalBERT or a small BERT built locally.

BERT's own pooler (``model.pooler``, a tanh layer on the CLS token) is not used by any pooling here; it is frozen so
that DistributedDataParallel sees no trainable parameter without gradient.

References:
    - [PAPER-CV] Zhang et al., arXiv 2010.00747 (pooling as summarised in S.-H. Tsang's review of the paper; the
      paper text was not opened for this module).
    - [RE] edreisMD/ConVIRT-pytorch @ c99ca5f ``models/model.py`` (``freeze_layers: [0..5]``, ``mean_pooling``).
    - [RE2] onyekaokonji/ConVIRT-PyTorch-Implementation ``text_encoder.py`` (embeddings + layers 0..5 frozen,
      masked max pooling).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["TEXT_POOLINGS", "TextEncoder", "load_text_encoder", "load_tokenizer", "tokenize_texts"]


def _masked_max(hidden: Tensor, mask: Tensor) -> Tensor:
    return hidden.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)


def _masked_mean(hidden: Tensor, mask: Tensor) -> Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1)


def _first_token(hidden: Tensor, mask: Tensor) -> Tensor:
    return hidden[:, 0]


#: pooling name -> ``f(last_hidden_state (B, L, H), attention_mask (B, L) bool) -> (B, H)``:
#: ``max`` over real tokens ([PAPER-CV], [RE2]), ``mean`` over real tokens ([RE]), ``cls`` = the first token.
TEXT_POOLINGS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "max": _masked_max,
    "mean": _masked_mean,
    "cls": _first_token,
}


def _bert_parts(model: nn.Module) -> tuple[nn.Module, nn.ModuleList]:
    embeddings = getattr(model, "embeddings", None)
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if embeddings is None or not isinstance(layers, nn.ModuleList):
        raise ValueError(
            f"TextEncoder freezes BERT-style models with .embeddings and .encoder.layer; {type(model).__name__} "
            "has not both (use n_frozen_layers=0 and freeze_embeddings=False for other architectures)."
        )
    return embeddings, layers


class TextEncoder(nn.Module):
    """A transformers encoder whose embeddings / first layers are frozen, followed by masked token pooling.

    Args:
        model: a transformers encoder (``AutoModel``), e.g. ``BertModel``.
        pooling: ``"max"`` ([PAPER-CV]), ``"mean"`` ([RE]) or ``"cls"``.
        n_frozen_layers: number of lowest transformer layers frozen; [PAPER-CV] 6 ([RE] ``freeze_layers: [0..5]``).
        freeze_embeddings: freeze the token / position embeddings too ([PAPER-CV], [RE2]); ``False`` reproduces [RE].

    Attributes:
        out_dim: width of ``h_u`` (``config.hidden_size``).

    Raises:
        ValueError: unknown ``pooling`` (valid values listed), ``n_frozen_layers`` outside ``[0, num_layers]``, or
            freezing requested on a model without BERT-style ``embeddings`` / ``encoder.layer``, or a model without
            ``config.hidden_size``.

    Example::

        >>> encoder = load_text_encoder("/models/Bio_ClinicalBERT")        # local folder
        >>> tokenizer = load_tokenizer("/models/Bio_ClinicalBERT")
        >>> batch = tokenize_texts(tokenizer, ["No pneumothorax.", "Mild cardiomegaly."], max_length=64)
        >>> encoder(batch["input_ids"], batch["attention_mask"]).shape
        torch.Size([2, 768])
    """

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        pooling: str = "max",
        n_frozen_layers: int = 6,
        freeze_embeddings: bool = True,
    ) -> None:
        super().__init__()
        if pooling not in TEXT_POOLINGS:
            raise ValueError(f"Unknown text pooling {pooling!r}; valid values are {sorted(TEXT_POOLINGS)}.")
        hidden_size = getattr(getattr(model, "config", None), "hidden_size", None)
        if not isinstance(hidden_size, int):
            raise ValueError(f"TextEncoder needs a transformers model with config.hidden_size; got {type(model).__name__}.")
        self.model = model
        self.pooling = pooling
        self.out_dim = hidden_size
        self.n_frozen_layers = n_frozen_layers
        self.freeze_embeddings = freeze_embeddings
        if n_frozen_layers or freeze_embeddings:
            embeddings, layers = _bert_parts(model)
            if not 0 <= n_frozen_layers <= len(layers):
                raise ValueError(f"n_frozen_layers must be in [0, {len(layers)}] for this model, found {n_frozen_layers}.")
            frozen = [*layers[:n_frozen_layers], *([embeddings] if freeze_embeddings else [])]
            for module in frozen:
                module.requires_grad_(False)
        pooler = getattr(model, "pooler", None)
        if isinstance(pooler, nn.Module):
            pooler.requires_grad_(False)  # unused by TEXT_POOLINGS; frozen so DDP finds no unused trainable params

    def frozen_parameter_names(self) -> list[str]:
        """Names (relative to this module) of the parameters that do not train."""
        return [name for name, p in self.named_parameters() if not p.requires_grad]

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters that train (upper layers; embeddings too when ``freeze_embeddings=False``)."""
        return (p for p in self.parameters() if p.requires_grad)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """Encode tokenised sentences.

        Args:
            input_ids: ``(B, L)`` token ids.
            attention_mask: ``(B, L)``, 1 for real tokens and 0 for padding; every row needs a real token.
            token_type_ids: optional ``(B, L)`` segment ids.

        Returns:
            ``(B, out_dim)`` pooled features ``h_u``.

        Raises:
            ValueError: shapes differ or a row of ``attention_mask`` has no real token.
        """
        if input_ids.shape != attention_mask.shape or input_ids.ndim != 2:
            raise ValueError(
                "input_ids and attention_mask must both be (B, L), found "
                f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}."
            )
        mask = attention_mask.bool()
        empty = (~mask.any(dim=1)).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"attention_mask rows {empty[:10]} have no real token; every sentence needs one.")
        kwargs = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return TEXT_POOLINGS[self.pooling](hidden, mask)

    def extra_repr(self) -> str:
        return (
            f"pooling={self.pooling!r}, n_frozen_layers={self.n_frozen_layers}, "
            f"freeze_embeddings={self.freeze_embeddings}, out_dim={self.out_dim}"
        )


def _local_folder(path: str | Path, what: str, required: str | None = None) -> Path:
    folder = Path(path)
    if not folder.is_dir() or (required is not None and not (folder / required).is_file()):
        needs = f" with {required}" if required else ""
        raise FileNotFoundError(
            f"{what} folder {folder} is not a local transformers folder{needs}; nothing is downloaded, so pass the "
            "path of a saved model (save_pretrained output, e.g. a local copy of Bio_ClinicalBERT)."
        )
    return folder


def load_text_encoder(
    path: str | Path, *, pooling: str = "max", n_frozen_layers: int = 6, freeze_embeddings: bool = True
) -> TextEncoder:
    """Load ``AutoModel.from_pretrained(path, local_files_only=True)`` into a :class:`TextEncoder`.

    A folder holding a masked-LM checkpoint (``BertForMaskedLM``) loads too: ``AutoModel`` keeps the encoder and
    drops the LM head. Arguments after ``path``: see :class:`TextEncoder`.

    Raises:
        FileNotFoundError: ``path`` is not a local model folder.
    """
    folder = _local_folder(path, "Text encoder", "config.json")
    model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    return TextEncoder(model, pooling=pooling, n_frozen_layers=n_frozen_layers, freeze_embeddings=freeze_embeddings)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """``AutoTokenizer.from_pretrained(path, local_files_only=True)`` (the tokenizer saved with the model).

    Raises:
        FileNotFoundError: ``path`` is not a local folder.
    """
    return AutoTokenizer.from_pretrained(str(_local_folder(path, "Tokenizer")), local_files_only=True)


_UNSET_MAX_LENGTH = 100_000  # transformers uses a huge sentinel (1e30) when a tokenizer has no model_max_length


def tokenize_texts(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int | None = None
) -> dict[str, Tensor]:
    """Tokenise a batch of sentences, padded to the longest and truncated at ``max_length`` ([RE]: ``padding=True,
    truncation=True``).

    Args:
        tokenizer: from :func:`load_tokenizer`.
        texts: ``B`` sentences.
        max_length: longest token sequence; ``None`` = ``tokenizer.model_max_length`` ([RE]: the model maximum).

    Returns:
        ``{"input_ids": (B, L) long, "attention_mask": (B, L) long}`` (+ ``"token_type_ids"`` when the tokenizer
        makes them).

    Raises:
        ValueError: no texts, a text that is not a string, or no usable ``max_length``.
    """
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"tokenize_texts needs a non-empty list of strings, found {type(texts).__name__} {texts!r:.80}.")
    limit = max_length if max_length is not None else tokenizer.model_max_length
    if limit is None or limit > _UNSET_MAX_LENGTH or limit < 2:
        raise ValueError(f"max_length must be set (>= 2): the tokenizer has model_max_length={limit!r}.")
    encoded = tokenizer(list(texts), padding=True, truncation=True, max_length=int(limit), return_tensors="pt")
    return {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}

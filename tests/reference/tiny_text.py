"""A tiny, fully known WordPiece tokenizer for the ECAMP text tests (built in memory with ``tokenizers``).

Every word of the hand-made reports below is a whole vocabulary entry, except ``effusions`` (``effusion`` + ``##s``)
and ``hyperinflated`` (``hyper`` + ``##inflated``), so token positions can be counted by hand.
"""

from __future__ import annotations

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[MASK]", "[SEP]"]
WORDS = [
    ".", ",", "there", "is", "no", "evidence", "of", "small", "left", "right", "pleural", "effusion", "##s", "heart",
    "size", "normal", "lungs", "are", "clear", "pneumothorax", "mild", "cardiomegaly", "the", "and", "lower", "lobe",
    "opacity", "hyper", "##inflated", "stable", "possible", "pneumonia", "edema", "a", "with", "focal", "change",
]
VOCAB = {tok: i for i, tok in enumerate(SPECIAL + WORDS)}


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Lower-casing whitespace/punctuation WordPiece over :data:`VOCAB` (ids: [PAD] 0, [UNK] 1, [CLS] 2, [MASK] 3)."""
    tok = Tokenizer(models.WordPiece(VOCAB, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   mask_token="[MASK]", sep_token="[SEP]")

"""Train report tokenizers with the ``tokenizers`` library and wrap them for ``transformers``.

* :func:`train_bpe_tokenizer`: byte-level BPE (GPT-2 / LLaMA-3 style: any byte sequence is encodable, no unknown
  token in practice), case kept, for the causal LM. Special tokens in LLaMA's order: ``<unk>`` 0, ``<s>`` 1,
  ``</s>`` 2, plus ``<pad>`` 3 for batching. No token is added automatically (GPT-2 behaviour): the corpus code puts
  ``<s>`` / ``</s>`` around each report, and the report-generation model adds its own image token.
* :func:`train_wordpiece_tokenizer`: BERT WordPiece (lower case, BERT normaliser and pre-tokeniser, ``##``
  continuation), ``[PAD]`` 0, ``[UNK]`` 1, ``[CLS]`` 2, ``[SEP]`` 3, ``[MASK]`` 4, and ``[CLS] A [SEP]`` /
  ``[CLS] A [SEP] B [SEP]`` added on encoding, as ``bert-base-uncased``.

:func:`save_tokenizer` writes ``tokenizer.json`` + ``tokenizer_config.json`` (and ``vocab.txt`` for WordPiece) with
a ``tokenizer_class`` that transformers 4.x and 5.x both load with ``AutoTokenizer.from_pretrained(folder)``.

Example:
    >>> tok = train_bpe_tokenizer(["No pleural effusion.", "Mild cardiomegaly."] * 20, vocab_size=300)
    >>> tok.decode(tok("No effusion.")["input_ids"])
    'No effusion.'
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertTokenizerFast, PreTrainedTokenizerBase, PreTrainedTokenizerFast

__all__ = ["CAUSAL_SPECIAL_TOKENS", "BERT_SPECIAL_TOKENS", "train_bpe_tokenizer", "train_wordpiece_tokenizer",
           "save_tokenizer"]  # fmt: skip

#: special tokens of the byte-level BPE tokenizer, in id order
CAUSAL_SPECIAL_TOKENS: dict[str, str] = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>",
                                         "pad_token": "<pad>"}  # fmt: skip
#: special tokens of the WordPiece tokenizer, in id order (bert-base-uncased's names)
BERT_SPECIAL_TOKENS: dict[str, str] = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
                                       "sep_token": "[SEP]", "mask_token": "[MASK]"}  # fmt: skip
_TOKENIZER_CLASS = {"bpe": "PreTrainedTokenizerFast", "wordpiece": "BertTokenizerFast"}


def _texts(texts: Iterable[str]) -> list[str]:
    out = [str(t) for t in texts if str(t).strip()]
    if not out:
        raise ValueError("cannot train a tokenizer on an empty corpus (no non-empty report).")
    return out


def train_bpe_tokenizer(
    texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2, model_max_length: int = 2048
) -> PreTrainedTokenizerFast:
    """Byte-level BPE tokenizer for a causal LM.

    Args:
        texts: training reports.
        vocab_size: vocabulary upper bound (>= 256 byte symbols + 4 special tokens to learn any merge).
        min_frequency: minimum count of a merge.
        model_max_length: longest sequence the model takes (used by ``truncation=True``).

    Returns:
        the tokenizer (``bos``/``eos``/``pad``/``unk`` set, nothing added on encoding).

    Raises:
        ValueError: empty corpus.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(CAUSAL_SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(_texts(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length, **CAUSAL_SPECIAL_TOKENS)


def train_wordpiece_tokenizer(
    texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2, model_max_length: int = 512
) -> PreTrainedTokenizerFast:
    """Lower-casing BERT WordPiece tokenizer.

    Args:
        texts: training reports.
        vocab_size: vocabulary upper bound.
        min_frequency: minimum count of a word piece.
        model_max_length: longest sequence the model takes.

    Returns:
        a ``BertTokenizerFast`` (``[CLS] ... [SEP]`` added on encoding).

    Raises:
        ValueError: empty corpus.
    """
    tok = Tokenizer(models.WordPiece(unk_token=BERT_SPECIAL_TOKENS["unk_token"]))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(BERT_SPECIAL_TOKENS.values()),
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(_texts(texts), trainer=trainer)
    cls, sep = BERT_SPECIAL_TOKENS["cls_token"], BERT_SPECIAL_TOKENS["sep_token"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )  # fmt: skip
    return BertTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length, do_lower_case=True,
                             **BERT_SPECIAL_TOKENS)  # fmt: skip


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, folder: str | os.PathLike[str]) -> Path:
    """Save a tokenizer so ``AutoTokenizer.from_pretrained(folder)`` loads it offline (transformers 4.x and 5.x).

    Writes ``tokenizer.json`` and ``tokenizer_config.json`` with ``tokenizer_class`` ``PreTrainedTokenizerFast``
    (byte-level BPE) or ``BertTokenizerFast`` (WordPiece; also ``vocab.txt``, one token per line in id order, which
    a folder holding only that file needs for ``BertTokenizerFast.from_pretrained``).

    Args:
        tokenizer: from :func:`train_bpe_tokenizer` or :func:`train_wordpiece_tokenizer`.
        folder: output folder (created).

    Returns:
        the folder.
    """
    out = Path(folder).expanduser()
    tokenizer.save_pretrained(str(out))
    kind = "wordpiece" if getattr(tokenizer, "mask_token", None) == BERT_SPECIAL_TOKENS["mask_token"] else "bpe"
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = _TOKENIZER_CLASS[kind]
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if kind == "wordpiece":
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        (out / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab), encoding="utf-8")
    return out

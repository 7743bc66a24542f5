"""ConVIRT batches: image + report items -> augmented image and one report sentence per draw -> tokenised batch.

Per item (``docs/architecture.md``, ConVIRT pieces): ``LoadCXRd("image") -> convirt_augmentations("image") ->
RandSentenced("report", output_key="text")``. Every random step draws from the transform chain's generators, which
:class:`~raddino_monai.data.samplers.SeededDataset` seeds from ``(seed, epoch, index)`` before each item, so the
image view *and the sentence* of every draw depend only on the run seed and the data position: they do not depend on
workers and repeat exactly after a resume. :class:`ConVIRTCollate` stacks the images and tokenises the batch's
sentences (padded to the longest, [RE] ``padding=True, truncation=True``).

Items without a usable report are skipped and counted (:func:`report_items`), so a long run never dies on one bad row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.transforms import Compose
from transformers import PreTrainedTokenizerBase

from raddino_monai.models.convirt import tokenize_texts
from raddino_monai.transforms import LoadCXRd
from raddino_monai.transforms.convirt_augment import ConVIRTAugmentConfig, convirt_augmentations
from raddino_monai.transforms.text import RandSentenced, split_sentences

__all__ = ["ConVIRTCollate", "convirt_transforms", "report_items"]

logger = logging.getLogger(__name__)


def report_items(items: Sequence[Mapping[str, Any]], report_key: str = "report") -> list[dict[str, Any]]:
    """The items whose ``report_key`` holds at least one sentence; the others are skipped and counted (logged).

    Raises:
        ValueError: no item has a usable report (the message gives the counts and the first skipped items).
    """
    kept, skipped = [], []
    for i, item in enumerate(items):
        report = item.get(report_key)
        if isinstance(report, str) and split_sentences(report, clean=True):
            kept.append(dict(item))
        else:
            skipped.append(f"#{i} {item.get('image', '?')}")
    if skipped:
        logger.warning("ConVIRT: skipped %d of %d items without a %r sentence (first: %s).", len(skipped), len(items),
                       report_key, ", ".join(skipped[:5]))
    if not kept:
        raise ValueError(f"none of the {len(items)} items has a {report_key!r} with a sentence (first items: "
                         f"{', '.join(skipped[:5])}); ConVIRT needs image + report pairs.")
    return kept


def convirt_transforms(
    augment: ConVIRTAugmentConfig | Mapping[str, Any] | None = None,
    image_key: str = "image",
    report_key: str = "report",
    text_key: str = "text",
) -> Compose:
    """Per-item chain: load, the paper's augmentations, one random sentence of the report into ``text_key``.

    Returns:
        ``Compose`` giving ``image (C, S, S)`` float32 and ``text`` (str); ``set_random_state(seed)`` seeds every
        random step (the sentence draw included).
    """
    return Compose([
        LoadCXRd(image_key),
        *convirt_augmentations(image_key, augment).transforms,
        RandSentenced(report_key, output_key=text_key),
    ])


class ConVIRTCollate:
    """Stack images and tokenise sentences.

    Args:
        tokenizer: the text encoder's tokenizer (``load_tokenizer(path)``).
        max_length: longest token sequence (``None``: the tokenizer's ``model_max_length``).
        image_key: item key of the image.
        text_key: item key of the sentence.

    Returns (on call with a list of items):
        ``{"image": (B, C, S, S) float32, "input_ids": (B, L), "attention_mask": (B, L) (, "token_type_ids"),
        "text": list[str]}``.

    Raises:
        KeyError: an item lacks ``image_key`` or ``text_key`` (the keys found are listed).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int | None = None, image_key: str = "image",
                 text_key: str = "text") -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.image_key, self.text_key = image_key, text_key

    def __call__(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        for item in items:
            if self.image_key not in item or self.text_key not in item:
                raise KeyError(f"ConVIRT item needs {self.image_key!r} and {self.text_key!r}; found {sorted(item)}. "
                               "Use convirt_transforms.")
        images = torch.stack([torch.as_tensor(item[self.image_key]).as_subclass(torch.Tensor) for item in items])
        texts = [str(item[self.text_key]) for item in items]
        return {"image": images.float(), **tokenize_texts(self.tokenizer, texts, self.max_length), "text": texts}

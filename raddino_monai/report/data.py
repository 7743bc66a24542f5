"""Image-report pairs as training batches: cached encoder tokens + tokenised prompt/report with masked labels.

Items are ``{"id": str, "features": (N, D) float32, "report": str}`` (optionally ``"prompt"``). The collate tokenises
lazily ([LLaVA] ``lazy_preprocess``), right-pads ids with the pad id, labels with ``IGNORE_INDEX`` and the attention
mask with 0, and stacks the features (every image has the same ``N``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from raddino_monai.report.config import IGNORE_INDEX, ReportModelConfig
from raddino_monai.report.prompt import encode_example, encode_prompt

__all__ = ["ReportPairs", "ReportCollate", "pair_features_with_reports"]

logger = logging.getLogger(__name__)


def pair_features_with_reports(
    ids: Sequence[str], tokens: np.ndarray, reports: Mapping[str, str], *, skip_missing: bool = True
) -> list[dict[str, Any]]:
    """Join feature rows with report texts by id.

    Args:
        ids: feature-file ids, in row order.
        tokens: ``(len(ids), N, D)``.
        reports: id -> report text.
        skip_missing: skip (and count in the log) ids without a non-empty report; False raises instead.

    Returns:
        items in ``ids`` order.

    Raises:
        ValueError: an id has no report and ``skip_missing`` is False, or nothing is left.
    """
    items, missing = [], []
    for row, image_id in enumerate(ids):
        text = reports.get(image_id)
        if text is None or not str(text).strip():
            missing.append(image_id)
            continue
        items.append({"id": image_id, "features": tokens[row], "report": str(text)})
    if missing and not skip_missing:
        raise ValueError(f"{len(missing)} images have no report, e.g. {missing[:5]}.")
    if missing:
        logger.warning("Skipped %d of %d images without a report, e.g. %s", len(missing), len(ids), missing[:3])
    if not items:
        raise ValueError("No image-report pairs: every id lacks a report.")
    return items


class ReportPairs(Dataset):
    """In-memory image-report pairs.

    Args:
        items: dicts with ``id``, ``features`` ``(N, D)`` and ``report`` (and optionally ``prompt``).

    Raises:
        KeyError: an item lacks a key (its index and the keys found are named).
        ValueError: items with different feature shapes.
    """

    def __init__(self, items: Sequence[Mapping[str, Any]]) -> None:
        for n, item in enumerate(items):
            missing = [k for k in ("id", "features", "report") if k not in item]
            if missing:
                raise KeyError(f"report item {n} lacks {missing}; found keys {sorted(item)}.")
        shapes = {tuple(np.shape(it["features"])) for it in items}
        if len(shapes) > 1:
            raise ValueError(f"All feature arrays must have one shape (N, D); found {sorted(shapes)}.")
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return dict(self.items[index])


class ReportCollate:
    """Batch items into ``features (B, N, D)``, ``input_ids``, ``attention_mask``, ``labels`` ``(B, T)``, ``ids``.

    Args:
        tokenizer: tokenizer with the image token (``ReportGenerator`` adds it).
        config: the model config (template, prompt, length budget).

    Example::

        >>> collate = ReportCollate(model.tokenizer, model.config)
        >>> batch = collate([{"id": "a", "features": f, "report": "No acute findings."}])
    """

    def __init__(self, tokenizer: Any, config: ReportModelConfig) -> None:
        self.tokenizer, self.config = tokenizer, config
        self.prompt_ids = encode_prompt(tokenizer, config)
        self.truncated = 0

    def __call__(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        features = torch.stack([torch.as_tensor(np.asarray(it["features"]), dtype=torch.float32) for it in items])
        rows = []
        for it in items:
            prompt_ids = self.prompt_ids if it.get("prompt") is None else encode_prompt(
                self.tokenizer, self.config, it["prompt"])
            ids, labels, truncated = encode_example(self.tokenizer, self.config, prompt_ids, it["report"],
                                                    features.shape[1])
            self.truncated += int(truncated)
            rows.append((ids, labels))
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), int(self.tokenizer.pad_token_id), dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (ids, lab) in enumerate(rows):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(lab)] = torch.tensor(lab)
            mask[i, : len(ids)] = 1
        return {"features": features, "input_ids": input_ids, "attention_mask": mask, "labels": labels,
                "ids": [str(it["id"]) for it in items]}

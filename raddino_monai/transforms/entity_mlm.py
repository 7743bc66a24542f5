"""ECAMP's entity-aware masked-language-model input: tokens, entity/descriptor masking and per-token loss weights.

Read from [ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/pretrain_datasets.py``:

* Tokens (``__getitem__`` lines 133-140): ``[CLS]`` + the WordPiece tokens of the report, truncated and padded to
  256; no ``[SEP]``; token type ids 0.
* Masking (``_context_mask``, lines 60-110), scanning positions ``1 .. T - 2`` until the first padding token:

  - a ``##`` sub-word token follows the previous token: masked when it is masked, else kept, no draw of its own;
  - a token whose text is one of the entity terms is an *entity*; the up to 2 tokens before it (never position 0,
    never a ``.``) are its *descriptors*;
  - in a report **without** entities every other token is masked with probability 0.75; in a report **with**
    entities the tokens that are neither entity nor descriptor are masked with probability 0.7;
  - afterwards every entity is masked with probability 0.75.

  Descriptors: the released code adds them to the descriptor list but its masking line tests the *entity* token
  (``self.idxtoword[masked_tokens[0][i]] not in entities``, always False there), so descriptors are in fact masked
  only by the background draw of their own position. The paper names "descriptor masking"; ``mask_descriptors=True``
  (default) masks every non-entity descriptor, as intended; ``mask_descriptors=False`` reproduces the released code.
* Loss weights (lines 141-184): tokens of the templates "there is no evidence of" and "there is no" (ECAMP's token
  ids 219 149 152 422 158 and 219 149 152, longest match first) get weight 0.05; the lost weight is given back so
  the weights of a report still sum to T: to the descriptor tokens when there are any (they are multiplied by
  ``(0.95 * (n_template - n_template_descriptors) + n_descriptors) / (n_descriptors - 0.95 *
  n_template_descriptors)``), otherwise to every token (multiplied by ``T / (T - 0.95 * n_template)``).
* Labels (``collate_fn``): the *unmasked* ids at every position (``labels="all"``), so the loss also scores visible
  tokens and padding; ``labels="masked"`` keeps targets only where a token was masked (BERT convention, -100
  elsewhere), an explicit deviation.

The masking is a pure function of the token strings and two uniform draws per position (:func:`entity_aware_mask`),
so it can be checked by hand; the transforms draw those numbers in ``randomize()`` from ``self.R``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform

from raddino_monai.transforms.entity_context import ECAMP_ENTITIES

__all__ = [
    "ECAMP_TEMPLATES",
    "MLM_KEYS",
    "MLM_LABEL_MODES",
    "EntityMLMConfig",
    "entity_aware_mask",
    "template_positions",
    "template_weights",
    "EntityAwareMLM",
    "EntityAwareMLMd",
]

#: [ECAMP] ``pretrain_datasets.py`` lines 23-24 (``template1`` / ``template2``), as text.
ECAMP_TEMPLATES: tuple[str, ...] = ("there is no evidence of", "there is no")
#: output keys of :class:`EntityAwareMLM` (the ECAMP batch keys ``ids``, ``labels``, ``attention_mask``,
#: ``type_ids``, ``weights``, in transformers names)
MLM_KEYS: tuple[str, ...] = ("input_ids", "labels", "attention_mask", "token_type_ids", "mlm_weights")
#: valid values of ``EntityMLMConfig.labels``
MLM_LABEL_MODES: tuple[str, ...] = ("all", "masked")


class Tokenizer(Protocol):
    """What the transform needs from a Hugging Face tokenizer."""

    cls_token_id: int | None
    pad_token_id: int | None
    mask_token_id: int | None

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]: ...


@dataclass(frozen=True)
class EntityMLMConfig:
    """Entity-aware MLM recipe; defaults are ECAMP's (``pretrain_datasets.py``).

    Args:
        max_length: tokens per report incl. ``[CLS]`` (``max_caption_length = 256``).
        entity_mask_prob: masking probability of an entity token (line 107: 0.75).
        context_mask_prob: masking probability of other tokens of a report with entities (line 101: 0.7).
        plain_mask_prob: masking probability of the tokens of a report without entities (line 98: 0.75).
        descriptor_window: tokens before an entity that are its descriptors (line 86: ``range(1, 3)`` = 2).
        mask_descriptors: mask every non-entity descriptor (paper's descriptor masking; the released code's
            condition never fires, see the module docstring: ``False`` reproduces it).
        template_weight: loss weight of template tokens (lines 148-166: 0.05).
        templates: down-weighted phrases, longest first ("there is no evidence of", "there is no").
        entities: entity terms (ECAMP's 44), compared case-insensitively with whole tokens.
        labels: ``"all"`` (ECAMP: original ids everywhere) or ``"masked"`` (-100 where nothing was masked).
        subword_prefix: continuation prefix of the tokenizer (WordPiece ``##``).
        sentence_end: token never taken as a descriptor (ECAMP's id 16, ``"."``).
    """

    max_length: int = 256
    entity_mask_prob: float = 0.75
    context_mask_prob: float = 0.7
    plain_mask_prob: float = 0.75
    descriptor_window: int = 2
    mask_descriptors: bool = True
    template_weight: float = 0.05
    templates: tuple[str, ...] = ECAMP_TEMPLATES
    entities: tuple[str, ...] = ECAMP_ENTITIES
    labels: str = "all"
    subword_prefix: str = "##"
    sentence_end: str = "."

    def __post_init__(self) -> None:
        problems = []
        if self.labels not in MLM_LABEL_MODES:
            problems.append(f"labels must be one of {list(MLM_LABEL_MODES)}, got {self.labels!r}")
        for name in ("entity_mask_prob", "context_mask_prob", "plain_mask_prob", "template_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_length < 3 or self.descriptor_window < 0:
            problems.append(f"need max_length >= 3 and descriptor_window >= 0, got {self.max_length}, "
                            f"{self.descriptor_window}")
        if problems:
            raise ValueError("Invalid EntityMLMConfig: " + "; ".join(problems) + ".")


def entity_aware_mask(
    ids: Sequence[int],
    tokens: Sequence[str],
    u_token: Sequence[float],
    u_entity: Sequence[float],
    *,
    mask_id: int,
    pad_id: int,
    config: EntityMLMConfig,
) -> tuple[list[int], list[int]]:
    """ECAMP's masking of one tokenised report, with the random numbers given.

    Args:
        ids: ``(T,)`` token ids, ``ids[0]`` = ``[CLS]``, padded with ``pad_id``.
        tokens: ``(T,)`` token strings of ``ids``.
        u_token: ``(T,)`` uniforms in [0, 1) for the background draw of each position.
        u_entity: ``(T,)`` uniforms for the entity draw of each position.
        mask_id: the ``[MASK]`` id.
        pad_id: the padding id (the scan stops at the first one).
        config: recipe.

    Returns:
        ``(masked ids, descriptor positions in the order found)``.
    """
    entities = {e.lower() for e in config.entities}
    n = len(ids)
    out = list(ids)
    is_entity = [t.lower() in entities for t in tokens]
    has_entity = any(is_entity[1 : n - 1])
    entity_pos: list[int] = []
    descriptors: list[int] = []
    for i in range(1, n - 1):
        if ids[i] == pad_id:
            break
        if tokens[i].startswith(config.subword_prefix):  # sub-word pieces follow their word
            if out[i - 1] == mask_id:
                out[i] = mask_id
            continue
        if is_entity[i]:
            entity_pos.append(i)
            for j in range(1, config.descriptor_window + 1):
                k = i - j
                if k <= 0:
                    break
                if tokens[k] == config.sentence_end:
                    continue
                if k not in descriptors:
                    descriptors.append(k)
                if config.mask_descriptors and not is_entity[k]:
                    out[k] = mask_id
        if not has_entity:
            if u_token[i] < config.plain_mask_prob:
                out[i] = mask_id
        elif u_token[i] < config.context_mask_prob and i not in entity_pos and i not in descriptors:
            out[i] = mask_id
    for i in entity_pos:
        if u_entity[i] < config.entity_mask_prob:
            out[i] = mask_id
    return out, descriptors


def template_positions(ids: Sequence[int], templates: Sequence[Sequence[int]]) -> list[int]:
    """Positions covered by template phrases, scanning left to right and trying templates in the given order.

    Args:
        ids: ``(T,)`` token ids.
        templates: token-id sequences, longest first (ECAMP tries "there is no evidence of" before "there is no").

    Returns:
        sorted positions (ECAMP scans only ``i < T - 4``; here every complete match counts, which only differs
        for a template in a report's last four tokens).
    """
    positions: list[int] = []
    i = 0
    while i < len(ids):
        for template in templates:
            if template and list(ids[i : i + len(template)]) == list(template):
                positions.extend(range(i, i + len(template)))
                i += len(template)
                break
        else:
            i += 1
    return positions


def template_weights(
    length: int, template_pos: Sequence[int], descriptors: Sequence[int], template_weight: float = 0.05
) -> np.ndarray:
    """Per-token loss weights: templates down-weighted, the lost weight given back so the total stays ``length``.

    Args:
        length: T.
        template_pos: positions of template tokens (:func:`template_positions`).
        descriptors: descriptor positions from :func:`entity_aware_mask`.
        template_weight: weight of a template token ([ECAMP] 0.05).

    Returns:
        float32 ``(T,)``; ``sum == T`` whenever there is a template token (ECAMP's two cases, see the module
        docstring), all ones otherwise.

    Example:
        >>> template_weights(10, [2, 3, 4], [6]).round(4).tolist()
        [1.0, 1.0, 0.05, 0.05, 0.05, 1.0, 3.85, 1.0, 1.0, 1.0]
    """
    weights = np.ones(length, dtype=np.float64)
    weights[list(template_pos)] = template_weight
    if not template_pos:
        return weights.astype(np.float32)
    deficit = length - weights.sum()  # = (1 - w) * n_template
    if descriptors:
        desc = list(descriptors)
        weights[desc] *= (weights[desc].sum() + deficit) / weights[desc].sum()
    else:
        weights *= length / weights.sum()
    return weights.astype(np.float32)


def _special_ids(tokenizer: Tokenizer) -> tuple[int, int, int]:
    ids = {"cls_token_id": tokenizer.cls_token_id, "pad_token_id": tokenizer.pad_token_id,
           "mask_token_id": tokenizer.mask_token_id}
    missing = [k for k, v in ids.items() if v is None]
    if missing:
        raise ValueError(f"the tokenizer has no {missing}: ECAMP's MLM needs [CLS], [PAD] and [MASK] tokens.")
    return int(ids["cls_token_id"]), int(ids["pad_token_id"]), int(ids["mask_token_id"])


class EntityAwareMLM(RandomizableTransform):
    """Report text -> ECAMP MLM inputs (ids, labels, attention mask, token types, per-token weights).

    Args:
        tokenizer: a Hugging Face tokenizer with ``[CLS]``, ``[PAD]`` and ``[MASK]`` (WordPiece for ``##``
            sub-words), e.g. ``PreTrainedTokenizerFast.from_pretrained(local_folder)``.
        config: :class:`EntityMLMConfig` (default ECAMP's recipe).
        seed: seed of the private generator.

    Returns (``__call__``):
        dict with :data:`MLM_KEYS`: ``input_ids`` / ``labels`` / ``attention_mask`` / ``token_type_ids`` long
        ``(T,)`` and ``mlm_weights`` float32 ``(T,)``; ``T = config.max_length``.

    Raises:
        ValueError: the tokenizer lacks a needed special token.
    """

    def __init__(self, tokenizer: Tokenizer, config: EntityMLMConfig | None = None, seed: int | None = None) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        self.tokenizer = tokenizer
        self.config = config or EntityMLMConfig()
        self.cls_id, self.pad_id, self.mask_id = _special_ids(tokenizer)
        self.template_ids = [list(tokenizer.encode(t, add_special_tokens=False)) for t in self.config.templates]
        self.u_token = np.zeros(0)
        self.u_entity = np.zeros(0)
        self.set_random_state(seed=seed)

    def randomize(self, data: int) -> None:
        """Draw two uniforms per position. Args: data: sequence length T."""
        self.u_token = self.R.random_sample(int(data))
        self.u_entity = self.R.random_sample(int(data))

    def tokenize(self, report: str) -> tuple[list[int], int]:
        """``[CLS]`` + report tokens, truncated and padded to ``max_length``; returns ``(ids, number of tokens)``."""
        body = list(self.tokenizer.encode(report, add_special_tokens=False))
        ids = ([self.cls_id] + body)[: self.config.max_length]
        n_real = len(ids)
        return ids + [self.pad_id] * (self.config.max_length - n_real), n_real

    def __call__(self, report: str, randomize: bool = True) -> dict[str, torch.Tensor]:
        """Tokenise and mask one report. Args: report: text; randomize: draw again (False replays the last draw).

        Raises:
            TypeError: ``report`` is not a string.
        """
        if not isinstance(report, str):
            raise TypeError(f"EntityAwareMLM expects the report as a string; got {type(report).__name__}.")
        ids, n_real = self.tokenize(report)
        if randomize:
            self.randomize(len(ids))
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        masked, descriptors = entity_aware_mask(
            ids, tokens, self.u_token, self.u_entity, mask_id=self.mask_id, pad_id=self.pad_id, config=self.config
        )
        weights = template_weights(len(ids), template_positions(ids, self.template_ids), descriptors,
                                   self.config.template_weight)
        labels = torch.tensor(ids, dtype=torch.long)
        input_ids = torch.tensor(masked, dtype=torch.long)
        if self.config.labels == "masked":
            labels = torch.where(input_ids != labels, labels, torch.full_like(labels, -100))
        attention = torch.zeros(len(ids), dtype=torch.long)
        attention[:n_real] = 1
        return {
            "input_ids": input_ids,
            "labels": labels,
            "attention_mask": attention,
            "token_type_ids": torch.zeros(len(ids), dtype=torch.long),
            "mlm_weights": torch.from_numpy(weights),
        }


class EntityAwareMLMd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`EntityAwareMLM`: ``data[key]`` (report text) -> the :data:`MLM_KEYS` entries.

    Args:
        keys: the report key (one key).
        tokenizer: see :class:`EntityAwareMLM`.
        config: see :class:`EntityAwareMLM`.
        allow_missing_keys: leave items without a report unchanged.
        seed: seed of the private generator.

    Raises:
        ValueError: more than one key.
    """

    def __init__(
        self,
        keys: KeysCollection,
        tokenizer: Tokenizer,
        config: EntityMLMConfig | None = None,
        allow_missing_keys: bool = False,
        seed: int | None = None,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        if len(self.keys) != 1:
            raise ValueError(f"EntityAwareMLMd takes exactly one report key; got {list(self.keys)}.")
        self.mlm = EntityAwareMLM(tokenizer, config)
        self.set_random_state(seed=seed)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> EntityAwareMLMd:
        super().set_random_state(seed, state)
        self.mlm.set_random_state(state=self.R)
        return self

    def randomize(self, data: int) -> None:
        """Draw for a sequence of length ``data``."""
        self.mlm.randomize(data)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d.update(self.mlm(d[key]))
        return d

"""Entity context for ECAMP: a sentence naming a report's entities, inserted at a random sentence position.

ECAMP ([ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/pretrain_datasets.py``) reads, for every report, an
"entity-centred context" sentence distilled by an LLM (Vicuna; ``mimic-cxr-2.0.0-entity-llm.csv``, column
``llm_output``) and, with probability 0.8, inserts it into the report at a uniformly drawn sentence boundary
(``__getitem__``, lines 116-132: ``location = random.randint(0, report_len)``). The LLM output cannot be produced
offline, so the sentence comes from, in order:

1. a precomputed string under the datalist key ``entity_context`` (users who have ECAMP's CSV or their own LLM
   output), else
2. a pluggable callable ``report -> sentence`` (e.g. a rule-based CheXpert-style labeler), else
3. :func:`keyword_entity_sentence`: ECAMP's 44 entity terms found by keyword, each marked present / ``no`` /
   ``possible`` by negation and uncertainty cue words earlier in its clause. This is a deviation from ECAMP (no LLM,
   no descriptions of location or severity); see ``docs/ecamp.md``.

The entity list is ECAMP's (``pretrain_datasets.py`` lines 17-22); matching is case-insensitive (ECAMP compares
tokens of a lower-casing tokenizer with the list, so its ``COPD`` never matched).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform

__all__ = [
    "ECAMP_ENTITIES",
    "split_sentences",
    "keyword_entity_sentence",
    "InsertEntityContext",
    "InsertEntityContextd",
]

#: [ECAMP] ``pretrain_datasets.py`` lines 17-22, in ECAMP's order (44 terms).
ECAMP_ENTITIES: tuple[str, ...] = (
    "abnormality", "abscess", "aerate", "aorta", "atelectasis", "bronchiectasis", "calcification",
    "cardiomediastinal", "cardiomegaly", "catheter", "chf", "collapse", "congestion", "consolidation", "contour",
    "COPD", "deformity", "dilation", "distention", "edema", "effusion", "embolism", "emphysema", "engorgement",
    "fibrosis", "fracture", "granuloma", "hernia", "hilar", "hyperinflate", "hemidiaphragm", "infiltrate", "mass",
    "nodule", "obscure", "opacity", "perihilar", "pneumonia", "pneumothorax", "sarcoidosis", "silhouette",
    "thickening", "tuberculosis", "vasculature",
)

# word forms that are not a regular inflection of an ECAMP term -> the term (ours, for the keyword default)
_IRREGULAR_FORMS = {
    "dilatation": "dilation", "dilated": "dilation", "distension": "distention", "distended": "distention",
    "opacification": "opacity", "opacified": "opacity", "fibrotic": "fibrosis", "emphysematous": "emphysema",
    "calcified": "calcification", "nodular": "nodule", "engorged": "engorgement", "thickened": "thickening",
    "collapsed": "collapse", "congested": "congestion", "herniation": "hernia", "atelectatic": "atelectasis",
    "edematous": "edema", "consolidative": "consolidation", "consolidated": "consolidation",
    "pneumothoraces": "pneumothorax", "emboli": "embolism", "embolus": "embolism", "tuberculous": "tuberculosis",
    "hemidiaphragms": "hemidiaphragm", "aeration": "aerate",
}
_NEGATION_CUES = ("no", "not", "without", "negative", "free", "absent", "resolved", "resolution")
_UNCERTAINTY_CUES = ("possible", "possibly", "may", "might", "likely", "probable", "probably", "suspected", "suspect",
                     "questionable", "cannot", "suggest", "suggests", "suggestive", "concern", "concerning", "versus")
_CLAUSE_BREAK = re.compile(r";|\bbut\b|\bhowever\b|\balthough\b")
_WORD = re.compile(r"[a-z]+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def _status(before: set[str]) -> str:
    """``"possible "`` / ``"no "`` / ``""`` from the cue words before a mention ("cannot" > negation > uncertainty)."""
    if "cannot" in before:  # "cannot exclude X"
        return "possible "
    if before & set(_NEGATION_CUES):  # "no ... to suggest X" is negative
        return "no "
    return "possible " if before & set(_UNCERTAINTY_CUES) else ""


def _forms(term: str) -> list[str]:
    t = term.lower()
    forms = [t, t + "s", t + "es"]
    if t.endswith("y"):
        forms.append(t[:-1] + "ies")
    if t.endswith("e"):
        forms += [t + "d", t[:-1] + "ion", t[:-1] + "ions"]
    return forms


def _form_table(entities: Sequence[str]) -> dict[str, str]:
    table = {form: term.lower() for term in entities for form in _forms(term)}
    wanted = {e.lower() for e in entities}
    table.update({k: v for k, v in _IRREGULAR_FORMS.items() if v in wanted})
    return table


def split_sentences(report: str) -> list[str]:
    """Sentences of a report: pieces ending at ``.``, ``!``, ``?`` or a line break, stripped, empty ones dropped.

    Example:
        >>> split_sentences("No effusion. Heart is normal.\\nLungs clear")
        ['No effusion.', 'Heart is normal.', 'Lungs clear']
    """
    return [s.strip() for s in _SENTENCE.findall(report) if s.strip(" .!?\n\t")]


def keyword_entity_sentence(report: str, entities: Sequence[str] = ECAMP_ENTITIES) -> str:
    """Keyword default for the entity context: each entity of ``entities`` the report mentions, with its status.

    An entity is ``"no <term>"`` when a negation cue (``no``, ``without``, ``negative``, ...) and ``"possible
    <term>"`` when an uncertainty cue (``possible``, ``may``, ``suggest``, ...) comes earlier in the same clause
    (clauses end at ``;``, ``but``, ``however``, ``although`` and sentence ends). Negation wins over uncertainty ("no
    consolidation to suggest pneumonia"), except after ``cannot`` ("cannot exclude pneumonia"). Cues after the
    mention are not seen ("pneumonia cannot be excluded" reads as present). Each entity is reported once, with the
    status of its first mention, in order of first mention.

    Args:
        report: free-text report.
        entities: entity terms (default ECAMP's 44).

    Returns:
        e.g. ``"effusion, no pneumothorax, possible pneumonia."``, or ``""`` when no entity is mentioned.

    Example:
        >>> keyword_entity_sentence("Small left pleural effusions. No pneumothorax; possible pneumonia.")
        'effusion, no pneumothorax, possible pneumonia.'
    """
    table = _form_table(entities)
    found: dict[str, str] = {}
    for sentence in split_sentences(report.lower()):
        for clause in _CLAUSE_BREAK.split(sentence):
            words = _WORD.findall(clause)
            for i, word in enumerate(words):
                term = table.get(word)
                if term is None or term in found:
                    continue
                found[term] = _status(set(words[:i])) + term
    return ", ".join(found.values()) + "." if found else ""


class InsertEntityContext(RandomizableTransform):
    """Insert an entity sentence into a report at a random sentence boundary, with probability ``prob``.

    Args:
        prob: insertion probability ([ECAMP] ``pretrain_datasets.py`` line 121: 0.8).
        entity_fn: ``report -> entity sentence`` used when no precomputed context is given (default
            :func:`keyword_entity_sentence`).
        seed: seed of the private generator.

    Example:
        >>> t = InsertEntityContext(prob=1.0, seed=0)
        >>> t("Heart size normal. Small effusion.")  # doctest: +SKIP
        'Heart size normal. effusion. Small effusion.'
    """

    def __init__(
        self,
        prob: float = 0.8,
        entity_fn: Callable[[str], str] | None = None,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1]; got {prob}.")
        RandomizableTransform.__init__(self, prob=prob)
        self.entity_fn = entity_fn if entity_fn is not None else keyword_entity_sentence
        self.position = 0
        self.set_random_state(seed=seed)

    def randomize(self, data: int) -> None:
        """Draw whether to insert and where. Args: data: number of sentences S (position uniform in 0..S)."""
        super().randomize(None)
        self.position = int(self.R.randint(0, int(data) + 1))  # [ECAMP] random.randint(0, report_len), inclusive

    def __call__(self, report: str, entity_context: str | None = None, randomize: bool = True) -> str:
        """Return the report with the context sentence inserted (or unchanged when the draw says no).

        Args:
            report: the report text.
            entity_context: precomputed context; None or empty = ``entity_fn(report)``.
            randomize: draw again (``False`` replays the last draw).

        Raises:
            TypeError: ``report`` is not a string.
        """
        if not isinstance(report, str):
            raise TypeError(f"InsertEntityContext expects the report as a string; got {type(report).__name__}.")
        sentences = split_sentences(report)
        if randomize:
            self.randomize(len(sentences))
        context = entity_context if entity_context else self.entity_fn(report)
        if not self._do_transform or not context.strip():
            return report
        context = context.strip()
        context = context if context[-1] in ".!?" else context + "."
        position = min(self.position, len(sentences))
        return " ".join(sentences[:position] + [context] + sentences[position:])


class InsertEntityContextd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`InsertEntityContext`: ``data[key]`` gets the context of ``data[context_key]``.

    Args:
        keys: the report key (one key).
        context_key: key of a precomputed entity sentence (used when present and non-empty).
        prob: insertion probability ([ECAMP] 0.8).
        entity_fn: fallback ``report -> sentence`` (default :func:`keyword_entity_sentence`).
        output_key: where to write the result (default: overwrite ``keys``).
        allow_missing_keys: leave items without a report unchanged.
        seed: seed of the private generator.

    Raises:
        ValueError: more than one key.
    """

    def __init__(
        self,
        keys: KeysCollection = "report",
        context_key: str = "entity_context",
        prob: float = 0.8,
        entity_fn: Callable[[str], str] | None = None,
        output_key: str | None = None,
        allow_missing_keys: bool = False,
        seed: int | None = None,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        if len(self.keys) != 1:
            raise ValueError(f"InsertEntityContextd takes exactly one report key; got {list(self.keys)}.")
        self.context_key = context_key
        self.output_key = output_key
        self.insert = InsertEntityContext(prob, entity_fn)
        self.set_random_state(seed=seed)

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> InsertEntityContextd:
        super().set_random_state(seed, state)
        self.insert.set_random_state(state=self.R)
        return self

    def randomize(self, data: int) -> None:
        """Draw for a report of ``data`` sentences."""
        self.insert.randomize(data)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            context = d.get(self.context_key)
            d[self.output_key or key] = self.insert(d[key], context if isinstance(context, str) else None)
        return d

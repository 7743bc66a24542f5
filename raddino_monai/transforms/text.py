"""Report text transforms: the one sentence splitter and ConVIRT's random-sentence sampling.

:func:`split_sentences` is the project's sentence splitter: the rule labeler (``evaluation/report/labeler.py``), the
report-target truncation (``text/corpus.py``) and ConVIRT's sentence sampling all use it. Splitting on every ``"."``
(ConVIRT's ``text.split(".")``) breaks decimals (``"3.5 cm"``) and abbreviations (``"e.g."``) and keeps empty pieces,
so the rules are:

* blank lines end a paragraph, and so does a line break before a list item (``"\n1. "``, ``"\n- "``); other single
  line breaks are spaces (reports are often hard-wrapped mid-sentence);
* a sentence ends at a run of ``.``, ``!`` or ``?`` followed by white space or the end of the text, except a single
  ``.`` after a known abbreviation (:data:`ABBREVIATIONS`, case-insensitive) or a single letter (initials, ``"L."``),
  and except after a bare enumerator (``"1."``, ``"(2)"``), which stays with its sentence; a period inside a number
  (``"3.5"``) is never followed by white space, so decimals stay whole;
* white space inside a sentence collapses to one space; empty pieces are dropped.

With ``clean=True`` (ConVIRT's sentence sampling) upper-case section headers (``"FINDINGS:"``) and list markers
(``"1."``, ``"2)"``, ``"-"``) at the start of a sentence are also removed and pieces without a letter (``"."``,
``"___."``) are dropped; with ``clean=False`` (the default: labeling, truncation) each sentence is the text as
written. On the 3955 Open-i reports (findings, impression and both, as written and as the labeler cleans them: 11301
texts) this splitter gives exactly the sentences of the splitter that ``data/report_text.py`` had before (checked
when the two were merged), so the labeler's Open-i validation is unchanged.

:class:`RandSentence` / :class:`RandSentenced` draw the sentence index in ``randomize()`` from ``self.R``, so
``set_random_state`` (and MONAI's per-worker seeding) makes the sampling reproducible.

References:
    - [PAPER-CV] Zhang et al., arXiv 2010.00747.
    - [RE] edreisMD/ConVIRT-pytorch @ c99ca5f.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

__all__ = ["ABBREVIATIONS", "split_sentences", "RandSentence", "RandSentenced"]

#: tokens (lower case, without their final period) after which a period does not end a sentence. ``a.m.`` / ``p.m.``
#: are not in it: in Open-i every one ends a sentence ("... telephoned at 3 p.m. The ...").
ABBREVIATIONS: frozenset[str] = frozenset(
    {
        "dr", "mr", "mrs", "ms", "prof", "vs", "e.g", "i.e", "eg", "ie", "approx", "cf", "fig", "figs", "incl",
        "resp", "st", "y.o", "al", "nos", "ca", "hr", "hrs", "wk", "wks", "mo", "mos", "yr", "yrs",
        "pt", "pts", "hx", "dx", "tx", "sx", "etc",
    }
)

_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=\s*(?:\(?\d{1,2}[.)]|[-*\u2022])\s)")
_ENUMERATOR = re.compile(r"^\(?\d{1,2}[.)]$")
_SPACE = re.compile(r"\s+")
_END = re.compile(r"[.!?]+(?=\s|$)")
_HEADER = re.compile(r"^(?:[A-Z][A-Z /&()-]*[A-Z)]\s*:\s*)+")
_LIST_MARKER = re.compile(r"^(?:[-*\u2022]|\(?\d{1,2}[.)])\s+")
_LETTER = re.compile(r"[^\W\d_]")


def _ends_sentence(paragraph: str, start: int, match: re.Match[str]) -> bool:
    if _ENUMERATOR.match(paragraph[start : match.end()].strip()):
        return False  # "1." stays with the sentence it numbers
    if match.group() != ".":
        return True  # "!", "?", "..", "...": always a boundary
    token = paragraph[: match.start()].rsplit(" ", 1)[-1].lstrip("([\"'")
    return not (token.lower() in ABBREVIATIONS or (len(token) == 1 and token.isalpha()))


def _clean(sentence: str) -> str:
    sentence = _HEADER.sub("", sentence.strip())
    return _LIST_MARKER.sub("", sentence).strip()


def split_sentences(text: str, clean: bool = False) -> list[str]:
    """Split a report into sentences (rules in the module docstring).

    Args:
        text: report text.
        clean: also drop section headers, list markers and pieces without a letter (see the module docstring).

    Returns:
        the non-empty sentences in order, each stripped, with single spaces, keeping its final punctuation.

    Raises:
        TypeError: ``text`` is not a string.

    Example:
        >>> split_sentences("FINDINGS: Nodule of 3.5 cm, e.g. granuloma.\\nNo effusion.. IMPRESSION: 1. Stable.",
        ...                 clean=True)
        ['Nodule of 3.5 cm, e.g. granuloma.', 'No effusion..', 'Stable.']
        >>> split_sentences("1. No effusion. 2. Stable 2.5 cm nodule.")
        ['1. No effusion.', '2. Stable 2.5 cm nodule.']
    """
    if not isinstance(text, str):
        raise TypeError(f"split_sentences expects a string report, found {type(text).__name__}.")
    sentences: list[str] = []
    for raw in _PARAGRAPH.split(text):
        paragraph = _SPACE.sub(" ", raw).strip()
        start = 0
        for match in _END.finditer(paragraph):
            if _ends_sentence(paragraph, start, match):
                sentences.append(paragraph[start : match.end()].strip())
                start = match.end()
        sentences.append(paragraph[start:].strip())
    if not clean:
        return [s for s in sentences if s]
    cleaned = (_clean(s) for s in sentences)
    return [s for s in cleaned if _LETTER.search(s)]


class RandSentence(Randomizable):
    """Pick one sentence of a report uniformly at random ([PAPER-CV] text transformation).

    Args:
        seed: seed of the private generator (``None``: MONAI's DataLoader reseeds it per worker).

    Example:
        >>> RandSentence(seed=0)("No effusion. Heart size normal. Lungs clear.") in {"No effusion.",
        ...     "Heart size normal.", "Lungs clear."}
        True
    """

    def __init__(self, seed: int | None = None) -> None:
        self.index = 0
        self.set_random_state(seed=seed)

    def randomize(self, data: int) -> None:
        """Draw the sentence index. Args: data: number of sentences (>= 1)."""
        self.index = int(self.R.randint(data))

    def __call__(self, report: str, randomize: bool = True) -> str:
        """Args: report: the report text; randomize: draw a new index (``False`` reuses the last draw, clipped to
        the number of sentences). Returns: one sentence.

        Raises:
            TypeError: ``report`` is not a string.
            ValueError: the report has no sentence (empty, or no letters).
        """
        sentences = split_sentences(report, clean=True)
        if not sentences:
            raise ValueError(f"report has no sentence to sample (found {len(report)} characters without a letter).")
        if randomize:
            self.randomize(len(sentences))
        return sentences[min(self.index, len(sentences) - 1)]


class RandSentenced(Randomizable, MapTransform):
    """Dictionary version of :class:`RandSentence`: each key's report is replaced by (or copied to) one sentence.

    Args:
        keys: report key(s), e.g. ``"report"``; each key gets its own draw.
        output_key: write the sentence here instead of overwriting the report (one key only); e.g. ``"text"``.
        allow_missing_keys: skip missing keys instead of raising.
        seed: see :class:`RandSentence`.

    Raises:
        ValueError: ``output_key`` with more than one key; an item whose report has no sentence (the message names
            the key).

    Example:
        >>> RandSentenced("report", output_key="text", seed=0)({"report": "No effusion."})["text"]
        'No effusion.'
    """

    def __init__(
        self,
        keys: KeysCollection = "report",
        output_key: str | None = None,
        allow_missing_keys: bool = False,
        seed: int | None = None,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if output_key is not None and len(self.keys) != 1:
            raise ValueError(f"output_key needs exactly one report key, found {list(self.keys)}.")
        self.output_key = output_key
        self.sampler = RandSentence()
        self.set_random_state(seed=seed)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandSentenced:
        super().set_random_state(seed, state)
        self.sampler.set_random_state(state=self.R)
        return self

    def randomize(self, data: int) -> None:
        """Draw a sentence index. Args: data: number of sentences."""
        self.sampler.randomize(data)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            try:
                sentence = self.sampler(d[key])  # type: ignore[arg-type]
            except (TypeError, ValueError) as err:
                raise ValueError(f"RandSentenced key {key!r}: {err}") from err
            d[self.output_key if self.output_key is not None else key] = sentence
        return d


RandSentenceD = RandSentenceDict = RandSentenced

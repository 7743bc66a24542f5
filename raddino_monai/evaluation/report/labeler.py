"""Offline rule-based labeler for the 14 CheXpert observations: positive (1), negative (0), uncertain (-1), blank.

Pipeline per report (the CheXpert labeler's stages, Irvin et al. AAAI 2019, with surface rules instead of its
dependency parse; see :mod:`.rules` and ``docs/report_labeler.md``):

1. **clean**: lower case, ``and/or`` -> ``or``, ``a/b`` -> ``a or b``, whitespace collapsed (CheXpert ``loader``).
2. **mentions**: per sentence, the phrases of :data:`.observations.PHRASES` (un-mentions dropped; an anatomy phrase
   such as ``heart size`` counts only with a qualifier, and not after a position phrase like ``over the``).
3. **classify** each mention from the cues in its scope (clause, comma list, no finite verb in between), in
   CheXpert's order: pre-negation uncertainty -> negation (incl. "normal") -> uncertainty (incl. "X or Y" between
   two observations, hedged phrases) -> positive. ``chf`` / ``heart failure`` also give uncertain Cardiomegaly.
4. **aggregate** per observation as CheXpert does: negative + uncertain -> uncertain, negative + positive ->
   positive, uncertain + positive -> positive; **No Finding** is positive when no observation other than Support
   Devices (and no finding of :data:`.observations.OTHER_FINDINGS`) is positive or uncertain, else blank.

Example:
    >>> labeler = CheXpertRuleLabeler()
    >>> labels = labeler.label("Heart size is normal. No pneumothorax. Cannot exclude small left effusion.")
    >>> labels["Cardiomegaly"], labels["Pneumothorax"], labels["Pleural Effusion"], labels["Edema"]
    (0, 0, -1, None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from raddino_monai.evaluation.report import rules
from raddino_monai.evaluation.report.observations import (
    CHEXPERT_OBSERVATIONS,
    NO_FINDING,
    OTHER_FINDINGS,
    PHRASES,
    SUPPORT_DEVICES,
    ObservationPhrases,
)
from raddino_monai.transforms.text import split_sentences

__all__ = ["POSITIVE", "NEGATIVE", "UNCERTAIN", "OTHER", "Mention", "CheXpertRuleLabeler", "clean_report"]

POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1
#: observation name used for :data:`.observations.OTHER_FINDINGS` mentions
OTHER = "Other Finding"
_KINDS = ("mention", "hedged", "anatomy")  # overlap priority within one observation
_CUE_CLASSES = {
    "pseudo": rules.PSEUDO, "preneg": rules.PRE_NEGATION_UNCERTAINTY, "negation": rules.NEGATION,
    "uncertainty": rules.UNCERTAINTY, "normal": rules.NORMAL, "positive": rules.POSITIVE_QUALIFIERS,
    "stable": rules.STABLE_QUALIFIERS,
}  # fmt: skip
#: a cue of the key class is dropped when it overlaps a cue of one of the value classes
_OVERRIDDEN_BY = {
    "negation": ("pseudo", "preneg"), "uncertainty": ("preneg",), "positive": ("normal",), "stable": ("normal",),
}  # fmt: skip
_QUALIFIER_CLASSES = ("normal", "positive", "stable")
_MAX_QUALIFIER_WORDS = 4  # words allowed between a pre-qualifier and its anatomy mention ("normal heart size and ...")
_OR = re.compile(r"\b(?:or|versus|vs)\b")
_SLASH = re.compile(r"(?<=[a-z])/(?=[a-z])")


def clean_report(text: str) -> str:
    """Lower case, ``and/or`` -> ``or``, ``a/b`` -> ``a or b``, a space after commas, whitespace collapsed."""
    text = str(text).lower().replace("and/or", "or")
    text = _SLASH.sub(" or ", text)
    text = re.sub(r",(?=\S)", ", ", text).replace("..", ".")
    return " ".join(text.split())


@dataclass(frozen=True)
class Mention:
    """One phrase naming an observation, with its status.

    Attributes:
        observation: CheXpert name, or :data:`OTHER` for a finding outside the 14.
        phrase: the matched text.
        sentence: the cleaned sentence it was found in.
        start, end: character span in ``sentence``.
        status: :data:`POSITIVE`, :data:`NEGATIVE` or :data:`UNCERTAIN`.
        cue: the cue text that decided the status (``""`` for a plain positive mention).
    """

    observation: str
    phrase: str
    sentence: str
    start: int
    end: int
    status: int
    cue: str = ""


@dataclass(frozen=True)
class _Cue:
    kind: str
    direction: str
    start: int
    end: int
    text: str


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?<![a-z])(?:{p})" for p in sorted(patterns, key=len, reverse=True)))


class CheXpertRuleLabeler:
    """Label reports with the 14 CheXpert observations by rules (no model, no download).

    Args:
        phrases: observation -> phrases (default :data:`.observations.PHRASES`).
        other_findings: abnormalities outside the 14 that rule out No Finding.

    Example:
        >>> CheXpertRuleLabeler().label("Stable cardiomegaly. Possible pneumonia.")["Pneumonia"]
        -1
    """

    def __init__(
        self,
        phrases: dict[str, ObservationPhrases] | None = None,
        other_findings: ObservationPhrases = OTHER_FINDINGS,
    ) -> None:
        table = {**(phrases if phrases is not None else PHRASES), OTHER: other_findings}
        unknown = sorted(set(table) - set(CHEXPERT_OBSERVATIONS) - {OTHER})
        if unknown or NO_FINDING in table:
            raise ValueError(f"phrases must be keyed by the CheXpert observations except {NO_FINDING!r} "
                             f"({list(CHEXPERT_OBSERVATIONS[1:])}); found {unknown or [NO_FINDING]}.")  # fmt: skip
        self._patterns = {
            name: ({kind: _compile(getattr(spec, kind)) for kind in _KINDS}, _compile(spec.unmention))
            for name, spec in table.items()
        }
        self._cues = {name: rules.compile_cues(cues) for name, cues in _CUE_CLASSES.items()}

    # ---- stage 2: mentions -------------------------------------------------------------------------------------
    def _find_mentions(self, clause: str) -> list[tuple[str, str, int, int]]:
        found: list[tuple[str, str, int, int]] = []
        for name, (kinds, unmention) in self._patterns.items():
            blocked = [m.span() for m in unmention.finditer(clause)] if unmention is not None else []
            spans: list[tuple[int, int, str]] = []
            for priority, kind in enumerate(_KINDS):
                pattern = kinds[kind]
                for m in pattern.finditer(clause) if pattern is not None else ():
                    s, e = m.span()
                    if any(s < be and e > bs for bs, be in blocked):
                        continue
                    if kind == "anatomy" and rules.POSITIONAL.search(clause[max(0, s - 40) : s]):
                        continue
                    if not any(s < oe and e > os_ for os_, oe, _ in spans):  # higher-priority kinds came first
                        spans.append((s, e, kind))
            found.extend((name, kind, s, e) for s, e, kind in spans)
        return found

    # ---- stage 3: cues and scopes ------------------------------------------------------------------------------
    def _find_cues(self, clause: str) -> list[_Cue]:
        cues = [
            _Cue(kind, direction, *m.span(), m.group(0))
            for kind, by_direction in self._cues.items()
            for direction, pattern in by_direction.items()
            for m in pattern.finditer(clause)
        ]
        return [
            c for c in cues
            if not any(o.kind in _OVERRIDDEN_BY.get(c.kind, ()) and c.start < o.end and c.end > o.start for o in cues)
        ]  # fmt: skip

    @staticmethod
    def _scopes(clause: str, mentions: Sequence[tuple[str, str, int, int]]) -> list[tuple[int, int, int, int]]:
        """Per comma segment: (segment start, segment end, scope start, scope end).

        A segment continues the list of the segment before it when it is a short verbless item ("pleural
        effusion") or starts with and / or / nor ("and lung volumes are normal", which also closes the list). A
        pre-cue in the list's first segment reaches every item; a post-cue in its last segment reaches back to
        every verbless segment. A short segment without a mention ("no acute, displaced rib fractures") is a
        modifier of the next one, which then continues its list whatever it holds.
        """
        bounds, start = [], 0
        for m in re.finditer(",", clause):
            bounds.append((start, m.start()))
            start = m.end()
        bounds.append((start, len(clause)))
        runs, first, closed = [0] * len(bounds), 0, False
        for i in range(1, len(bounds)):
            segment = clause[bounds[i][0] : bounds[i][1]]
            closing = bool(rules.LIST_START.match(segment))
            ps, pe = bounds[i - 1]
            modifier = (len(clause[ps:pe].split()) <= 2 and not any(ps <= m[2] < pe for m in mentions)
                        and not rules.ASSERTION_START.match(segment))  # fmt: skip
            if not modifier and (closed or not (closing or _is_list_item(segment))):
                first = i
            runs[i], closed = first, closing and bool(rules.FINITE_VERB.search(segment))
        scopes = []
        for i, (s, e) in enumerate(bounds):
            last = max(j for j in range(len(bounds)) if runs[j] == runs[i])
            verbless = not rules.FINITE_VERB.search(clause[s:e])
            scopes.append((s, e, bounds[runs[i]][0], bounds[last][1] if verbless else e))
        return scopes

    @staticmethod
    def _applies(cue: _Cue, clause: str, start: int, end: int, lo: int, hi: int) -> bool:
        if cue.direction == "PRE":
            between = clause[cue.end : start]
            if cue.end > start or cue.start < lo or rules.FINITE_VERB.search(between):
                return False
            return cue.kind not in _QUALIFIER_CLASSES or len(between.split()) <= _MAX_QUALIFIER_WORDS
        between = clause[end : cue.start]
        return cue.start >= end and cue.end <= hi and not rules.FINITE_VERB.search(between)

    def _classify(
        self, clause: str, name: str, kind: str, start: int, end: int, lo: int, hi: int,
        cues: list[_Cue], others: list[tuple[str, str, int, int]],
    ) -> tuple[int | None, str]:  # fmt: skip
        active: dict[str, str] = {}
        for cue in cues:
            if cue.kind not in active and self._applies(cue, clause, start, end, lo, hi):
                active[cue.kind] = cue.text
        if "preneg" in active:
            return UNCERTAIN, active["preneg"]
        if "negation" in active or "normal" in active:
            return NEGATIVE, active.get("negation", active.get("normal", ""))
        hedge = active.get("uncertainty") or self._or_hedge(clause, name, start, end, lo, hi, others)
        if kind == "anatomy":
            if "positive" in active:
                return (UNCERTAIN, hedge) if hedge else (POSITIVE, active["positive"])
            if "stable" in active:
                return UNCERTAIN, active["stable"]
            return None, ""
        if hedge:
            return UNCERTAIN, hedge
        return (UNCERTAIN, clause[start:end]) if kind == "hedged" else (POSITIVE, "")

    @staticmethod
    def _or_hedge(
        clause: str, name: str, start: int, end: int, lo: int, hi: int, others: list[tuple[str, str, int, int]]
    ) -> str:
        """CheXpert's "X or Y" rule: two different observations joined by or / versus are both uncertain."""
        for other, kind, s, e in others:
            if other in (name, OTHER) or kind == "anatomy" or not (lo <= s and e <= hi):
                continue
            between = clause[end:s] if s >= end else clause[e:start] if e <= start else ""
            if _OR.search(between) and len(between.split()) <= 4 and not rules.FINITE_VERB.search(between):
                return _OR.search(between).group(0)  # type: ignore[union-attr]
        return ""

    # ---- public API --------------------------------------------------------------------------------------------
    def mentions(self, text: str) -> list[Mention]:
        """Every mention found in ``text`` with its status (anatomy phrases without a qualifier are left out).

        Args:
            text: a report (any section; sections are not extracted here).

        Returns:
            mentions in text order, plus an uncertain Cardiomegaly mention after each asserted ``chf`` /
            ``heart failure`` (CheXpert's rule).
        """
        out: list[Mention] = []
        for sentence in split_sentences(clean_report(text)):
            offset = 0
            for clause in rules.CLAUSE_BREAK.split(sentence):
                base = sentence.find(clause, offset)
                offset = base + len(clause)
                found = self._find_mentions(clause)
                if not found:
                    continue
                cues, scopes = self._find_cues(clause), self._scopes(clause, found)
                for name, kind, s, e in sorted(found, key=lambda f: f[2]):
                    lo, hi = next(((lo, hi) for ss, se, lo, hi in scopes if ss <= s < se), (0, len(clause)))
                    status, cue = self._classify(clause, name, kind, s, e, lo, hi, cues, found)
                    if status is None:
                        continue
                    out.append(Mention(name, clause[s:e], sentence, base + s, base + e, status, cue))
                    if name == "Edema" and status != NEGATIVE and re.fullmatch(r"chf|heart failure", clause[s:e]):
                        out.append(Mention("Cardiomegaly", clause[s:e], sentence, base + s, base + e, UNCERTAIN,
                                           "heart failure (CheXpert rule)"))  # fmt: skip
        return out

    def label(self, text: str) -> dict[str, int | None]:
        """Labels of one report.

        Args:
            text: report text (e.g. the findings section).

        Returns:
            ``{observation: 1 | 0 | -1 | None}`` for the 14 :data:`CHEXPERT_OBSERVATIONS` (None: not mentioned).
            An empty text gives all None.
        """
        labels: dict[str, int | None] = {name: None for name in CHEXPERT_OBSERVATIONS}
        if not str(text).strip():
            return labels
        found: dict[str, set[int]] = {}
        for mention in self.mentions(text):
            found.setdefault(mention.observation, set()).add(mention.status)
        for name, statuses in found.items():
            if name in labels:
                labels[name] = _aggregate(statuses)
        finding = any(
            statuses & {POSITIVE, UNCERTAIN} for name, statuses in found.items() if name != SUPPORT_DEVICES
        )
        labels[NO_FINDING] = None if finding else POSITIVE
        return labels

    def label_many(self, texts: Iterable[str]) -> np.ndarray:
        """Labels of many reports.

        Args:
            texts: reports.

        Returns:
            ``(N, 14)`` float array, columns in :data:`CHEXPERT_OBSERVATIONS` order, values 1 / 0 / -1 and NaN for
            not mentioned.
        """
        rows = [[np.nan if v is None else float(v) for v in self.label(t).values()] for t in texts]
        return np.asarray(rows, dtype=float).reshape(len(rows), len(CHEXPERT_OBSERVATIONS))


def _is_list_item(segment: str) -> bool:
    """A short comma segment without a verb or an assertion word ("pleural effusion") continues a list."""
    return (len(segment.split()) <= 5 and not rules.FINITE_VERB.search(segment)
            and not rules.ASSERTION_START.match(segment))  # fmt: skip


def _aggregate(statuses: set[int]) -> int:
    """CheXpert's rule for several mentions of one observation (``aggregate.py`` ``dict_to_vec``)."""
    if POSITIVE in statuses:
        return POSITIVE
    if UNCERTAIN in statuses:
        return UNCERTAIN
    return NEGATIVE

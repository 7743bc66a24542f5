"""Radiology report text: section extraction (MIMIC-style headers) and section choice.

MIMIC-CXR free-text reports are blocks under upper-case headers (``FINAL REPORT``, ``EXAMINATION:``,
``INDICATION:``, ``COMPARISON:``, ``FINDINGS:``, ``IMPRESSION:`` ...), with spelling variants and synonyms
(``IMPRESSIONS:``, ``CONCLUSION:``, ``FINDINGS AND IMPRESSION:``, ``FINDING:``). :func:`extract_sections` finds
every header (an upper-case phrase followed by a colon, or a known header name in any case at the start of a line
or sentence), maps its name to a canonical section with :data:`SECTION_ALIASES` (the variant list follows the
frequencies counted by MIT-LCP/mimic-cxr ``txt/section_parser.py``; written here, not copied) and returns the text
of each section with whitespace normalised. Text before the first header is ``"preamble"``.

:func:`select_section` is the one place that decides which text a task uses: ``"findings"`` (the target of the
RAD-DINO paper's report generation, [PAPER] §4.4), ``"impression"``, ``"findings+impression"`` or ``"full"``, with an
optional fallback section when the wanted one is missing (an empty string means "skip this report").

Sentence splitting moved to :func:`raddino_monai.transforms.text.split_sentences` (one splitter for the labeler, the
truncation and ConVIRT); ``raddino_monai.data.report_text.split_sentences`` still imports, with a
``DeprecationWarning``.

Example:
    >>> text = "FINAL REPORT\\n FINDINGS: No effusion. Heart size is normal.\\n IMPRESSION: Normal chest."
    >>> extract_sections(text)["findings"]
    'No effusion. Heart size is normal.'
    >>> select_section(text, "findings+impression")
    'No effusion. Heart size is normal. Normal chest.'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from raddino_monai._compat import moved_names

__all__ = [
    "SECTION_ALIASES",
    "SECTION_CHOICES",
    "extract_sections",
    "normalize_whitespace",
    "select_section",
]

#: header name (lower case, inner whitespace collapsed) -> canonical section
SECTION_ALIASES: dict[str, str] = {
    **{name: "findings" for name in (
        "findings", "finding", "findngs", "findins", "findnings", "finidngs", "chest, two views", "report",
    )},
    **{name: "impression" for name in (
        "impression", "impressions", "impresion", "impresson", "impession", "conclusion", "conclusions", "opinion",
        "summary",
    )},
    **{name: "findings_impression" for name in (
        "findings and impression", "findings/impression", "findings / impression", "findings & impression",
        "impression and findings",
    )},
    **{name: "indication" for name in (
        "indication", "indications", "reason for exam", "reason for examination", "clinical indication",
        "reason for study",
    )},
    **{name: "history" for name in ("history", "clinical history", "clinical information", "patient history")},
    **{name: "comparison" for name in (
        "comparison", "comparisons", "comparison exam", "comparison film", "reference exam", "prior",
    )},
    **{name: "examination" for name in ("examination", "exam", "type of examination", "procedure", "study")},
    "technique": "technique",
    **{name: "recommendations" for name in ("recommendation", "recommendations", "recommendation(s)")},
    "notification": "notification",
    "addendum": "addendum",
    **{name: "wet_read" for name in ("wet read", "wetread")},
    "final report": "preamble",
}  # fmt: skip

#: valid ``section`` values of :func:`select_section`
SECTION_CHOICES: tuple[str, ...] = ("findings", "impression", "findings+impression", "full")

_KNOWN = sorted(SECTION_ALIASES, key=len, reverse=True)
# a known header name in any case at the text / line / sentence start ("Findings:", "IMPRESSION:")
_KNOWN_HEADER = re.compile(
    r"(?:^|\n|[.!?;]\s|\s\s)\s*(?P<name>" + "|".join(re.escape(n) for n in _KNOWN) + r")[ \t]*:", re.IGNORECASE
)
# any other upper-case header on a line of its own start ("PA AND LATERAL VIEWS OF THE CHEST:")
_UPPER_HEADER = re.compile(r"(?:^|\n)[ \t]*(?P<name>[A-Z][A-Z ()/,&-]{2,40}[A-Z)])[ \t]*:")
_FINAL_REPORT = re.compile(r"^\s*FINAL REPORT\b", re.IGNORECASE)

__getattr__ = moved_names(__name__)  # split_sentences moved to transforms/text.py


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace (spaces, tabs, line breaks) to one space and strip the ends."""
    return " ".join(str(text).split())


def _canonical(header: str) -> str:
    name = " ".join(header.lower().split())
    return SECTION_ALIASES.get(name, name.replace(" ", "_"))


def extract_sections(text: str) -> dict[str, str]:
    """Split a free-text report into its sections.

    Args:
        text: the report, e.g. a MIMIC-CXR ``.txt`` file's content.

    Returns:
        ``{canonical section name: text}`` in report order, whitespace normalised. Text before the first header is
        ``"preamble"`` (only when not empty); a section that occurs twice (e.g. two ``IMPRESSION:`` blocks) is
        joined with a space. Unknown upper-case headers keep their own name (lower case, ``_`` for spaces). A
        report without any header gives ``{"preamble": text}``.

    Example:
        >>> extract_sections("INDICATION: cough. FINDINGS AND IMPRESSION: No pneumonia.")
        {'indication': 'cough.', 'findings_impression': 'No pneumonia.'}
    """
    text = _FINAL_REPORT.sub("", str(text))
    sections: dict[str, str] = {}

    def add(name: str, body: str) -> None:
        body = normalize_whitespace(body)
        if body:
            sections[name] = f"{sections[name]} {body}" if name in sections else body

    found = sorted([*_KNOWN_HEADER.finditer(text), *_UPPER_HEADER.finditer(text)], key=lambda m: m.start("name"))
    matches: list[re.Match[str]] = []
    for m in found:  # overlapping hits of the two patterns: keep the first
        if not matches or m.start("name") >= matches[-1].end():
            matches.append(m)
    if not matches:
        add("preamble", text)
        return sections
    add("preamble", text[: matches[0].start("name")])
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start("name") if following is not None else len(text)
        add(_canonical(match.group("name")), text[match.end() : end])
    return sections


def select_section(
    report: str | Mapping[str, str], section: str = "findings", fallback: str | None = None
) -> str:
    """The text of one report that a task uses (one policy for every caller).

    Args:
        report: free text (sections are extracted with :func:`extract_sections`; text without any header is
            returned whole, whatever ``section`` asks, as the CheXpert labeler does) or a mapping with ``findings`` /
            ``impression`` (/ ``findings_impression``) keys, e.g. an Open-i record.
        section: one of :data:`SECTION_CHOICES`: ``"findings"`` (a ``FINDINGS AND IMPRESSION`` block counts as
            findings), ``"impression"`` (likewise), ``"findings+impression"`` (both, findings first, each once) or
            ``"full"`` (the whole text, whitespace normalised; for a mapping: every value joined).
        fallback: section used when ``section`` gives empty text (e.g. ``"impression"``); None: no fallback.

    Returns:
        the text, or ``""`` when neither section has text (callers skip and count such reports).

    Raises:
        ValueError: ``section`` or ``fallback`` is not one of :data:`SECTION_CHOICES`.
    """
    for name in (section, fallback):
        if name is not None and name not in SECTION_CHOICES:
            raise ValueError(f"section {name!r} is not valid; valid values are {list(SECTION_CHOICES)}.")
    if isinstance(report, Mapping):
        parts = {k: normalize_whitespace(v or "") for k, v in report.items() if isinstance(v, str) or v is None}
        full = " ".join(v for v in parts.values() if v)
    else:
        parts = extract_sections(report)
        full = normalize_whitespace(report)
        if set(parts) <= {"preamble"}:  # no header at all: the text is the section (CheXpert labeler's default)
            return full

    def pick(name: str) -> str:
        if name == "full":
            return full
        both = parts.get("findings_impression", "")
        findings, impression = parts.get("findings", "") or both, parts.get("impression", "") or both
        if name == "findings":
            return findings
        if name == "impression":
            return impression
        return " ".join(dict.fromkeys(t for t in (findings, impression) if t))

    text = pick(section)
    return text if text or fallback is None else pick(fallback)

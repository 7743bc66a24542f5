"""Negation, uncertainty and qualifier cues of the rule-based CheXpert labeler (regular expressions, lower case).

The cue classes and their order follow the CheXpert labeler (stanfordmlgroup/chexpert-labeler
``patterns/pre_negation_uncertainty.txt``, ``negation.txt``, ``post_negation_uncertainty.txt``; MIT licence). Those
are dependency-graph patterns over a BLLIP parse; this module writes the same cues as surface patterns with a
direction (``PRE``: the cue precedes the mention, ``POST``: it follows), in the NegEx manner (Chapman et al., J
Biomed Inform 2001): a cue applies within the mention's clause, across a comma-separated list, and not across a
finite verb. Priority, as in CheXpert: pre-negation uncertainty ("cannot exclude", "no new") > negation >
uncertainty. Pseudo-cues ("no change in", "not resolved") cancel a negation cue they overlap.
"""

from __future__ import annotations

import re

__all__ = [
    "COPULA",
    "PSEUDO",
    "PRE_NEGATION_UNCERTAINTY",
    "NEGATION",
    "UNCERTAINTY",
    "NORMAL",
    "POSITIVE_QUALIFIERS",
    "STABLE_QUALIFIERS",
    "CLAUSE_BREAK",
    "LIST_START",
    "ASSERTION_START",
    "FINITE_VERB",
    "POSITIONAL",
    "compile_cues",
]

#: optional copula + adverbs before a post-cue ("is", "appears to be", "has been", "remains mildly")
COPULA = (
    r"(?:(?:is|are|was|were|be|has been|have been|appears?(?: to be)?|appeared|remains?|remained|seems?(?: to be)?|"
    r"looks?|(?:may|might|could|would|can|should|must) (?:also )?be) )?(?:(?:\w+ly|now|again|still|otherwise|"
    r"overall) )*"
)
_NOT_EXCLUDED = r"(?:not|cannot|can ?not|can't) (?:be )?(?:entirely |completely |totally |definitely |fully )?"

#: cues that cancel a negation cue they overlap ("no change in the effusion" asserts the effusion)
PSEUDO: dict[str, tuple[str, ...]] = {
    "PRE": (
        r"no (?:significant |substantial |appreciable |interval |definite |acute |other )*(?:change|increase|decrease|"
        r"improvement|worsening|progression|difference)s?",
        r"without (?:significant |interval )*change", r"not only",
        r"(?:partial(?:ly)?|incomplete(?:ly)?|improving|gradual(?:ly)?|slow(?:ly)?|decreas\w*) "
        r"(?:resolution|resolv\w*|clearing|cleared)",
    ),
    "POST": (
        COPULA + r"not (?:yet )?(?:fully |completely |entirely )?(?:resolved|cleared|removed)",
        COPULA + r"not (?:significantly |substantially )?(?:changed|increased|decreased|improved|worsened)",
        r"otherwise (?:normal|unremarkable)",
    ),
}
#: "cannot exclude X", "X is not excluded", "no new X": uncertain (checked before negation)
PRE_NEGATION_UNCERTAINTY: dict[str, tuple[str, ...]] = {
    "PRE": (
        r"(?:cannot|can ?not|can't|could not|may not) (?:be )?(?:entirely |completely |totally |definitely )?"
        r"(?:exclude[ds]?|rule[ds]? out)",
        r"(?:difficult|hard|unable|impossible) to (?:entirely |completely )?(?:exclude|rule out)",
        r"no new", r"no evidence to rule out", r"not (?:be )?(?:entirely |completely )?(?:excluded|ruled out)",
    ),
    "POST": (COPULA + _NOT_EXCLUDED + r"(?:excluded|ruled out)", r"(?:cannot|can ?not|can't) be excluded"),
}
#: negation ("no X", "without X", "X has resolved", "X is not seen")
NEGATION: dict[str, tuple[str, ...]] = {
    "PRE": (
        r"\bno\b", r"\bnot\b", r"\bwithout\b", r"negative for", r"free of", r"clear of", r"absence of", r"\bnor\b",
        r"\bneither\b", r"resolution of", r"\bresolved\b", r"clearing of", r"removal of", r"\bremoved\b",
        r"rule[ds]? out", r"history of", r"disappearance of", r"\babsent\b",
    ),
    "POST": (
        COPULA + r"not (?:seen|identified|visuali[sz]ed|present|evident|demonstrated|noted|detected|visible|shown)",
        COPULA + r"no longer (?:seen|present|visible|evident|identified|visuali[sz]ed|demonstrated)",
        COPULA + r"(?:absent|resolved|cleared|removed|gone|excluded|negative)\b",
        r"(?:has|have) (?:since |now |completely |entirely )?(?:resolved|cleared|been removed)",
    ),
}
#: hedges ("possible X", "X versus Y", "X is suspected")
UNCERTAINTY: dict[str, tuple[str, ...]] = {
    "PRE": (
        r"\bpossibl[ey]\b", r"\bprobabl[ey]\b", r"\blikely\b", r"questionabl[ey]", r"question of", r"suspect\w*",
        r"suspicio(?:us|n) (?:for|of)", r"concern(?:ing)? for", r"worrisome for", r"\bmay\b", r"\bmight\b",
        r"\bcould\b", r"\bwould\b", r"differential", r"\bversus\b", r"\bvs\b", r"suggest\w*", r"equivocal",
        r"indeterminate", r"presum\w*", r"favou?r(?:ed|s)?\b", r"borderline", r"obscur\w*", r"\?",
        r"(?:cannot|can ?not|difficult to|unable to) (?:be )?(?:assess|evaluat)\w*", r"correlat\w* (?:\w+ )?for",
    ),
    "POST": (
        COPULA + r"(?:suspected|possible|likely|questioned|favou?red|suspicious|a possibility|not appreciated)\b",
        COPULA + r"(?:not (?:well |clearly )?(?:seen|visuali[sz]ed|evaluated|assessed)) (?:well|clearly|completely)",
        COPULA + r"(?:poorly|incompletely|not well|not clearly) (?:seen|visuali[sz]ed|evaluated|assessed)",
        COPULA + r"obscured", r"(?:may|might|could|would) (?:also |possibly )?(?:be|represent|reflect|indicate)\b",
        r"\bversus\b", r"\bvs\b", r"\?",
    ),
}
#: normal-state qualifiers: negate the mention ("heart size is normal", "normal heart size", "not enlarged")
NORMAL: dict[str, tuple[str, ...]] = {
    "PRE": (r"(?:normal|unremarkable|top[- ]normal|upper[- ]normal|high[- ]normal|non-?enlarged)\b",),
    "POST": (
        COPULA + r"(?:at |within )?(?:the )?(?:upper )?(?:limits? of )?normal(?: limits)?\b",
        COPULA + r"(?:unremarkable|top[- ]normal|upper[- ]normal|high[- ]normal|non-?enlarged|small)\b",
        COPULA + r"not (?:significantly |markedly |definitely )?(?:enlarged|widened|increased|prominent)",
        r"(?:within|at) (?:the )?(?:upper )?(?:limits? of )?normal",
    ),
}
#: qualifiers that make an anatomy mention (heart size, mediastinum) positive
POSITIVE_QUALIFIERS: dict[str, tuple[str, ...]] = {
    "PRE": (r"(?:enlarged|large|increased|widened|wide|big|prominent)\b",
            r"(?:prominence|enlargement|widening) of(?: the)?"),
    "POST": (COPULA + r"(?:enlarged|large|increased|widened|wide|big|prominent)\b", r"enlargement", r"prominence"),
}
#: qualifiers that make an anatomy mention uncertain ("stable cardiac silhouette": possibly stably enlarged; CheXpert)
STABLE_QUALIFIERS: dict[str, tuple[str, ...]] = {
    "PRE": (r"(?:stable|unchanged|similar)\b",),
    "POST": (COPULA + r"(?:stable|unchanged|similar)\b", COPULA + r"not (?:significantly )?changed"),
}

#: clause boundaries: no cue reaches across them
CLAUSE_BREAK = re.compile(
    r";|:|\bbut\b|\bhowever\b|\balthough\b|\bthough\b|\bexcept\b|\bapart from\b|\baside from\b|\bwhich\b|"
    r"\bwhereas\b|\bwhile\b|\bwith the exception of\b"
)
#: a comma-separated segment starting with this closes a list ("A, B, and C are normal")
LIST_START = re.compile(r"^\s*(?:and|or|nor|as well as)\b")
#: a comma segment starting with this asserts something new ("no acute disease, stable cardiomegaly")
ASSERTION_START = re.compile(
    r"^\s*(?:stable|unchanged|mild(?:ly)?|moderate(?:ly)?|severe|small|large|minimal|trace|new|increas\w*|decreas\w*|"
    r"worsen\w*|persistent|improv\w*|residual|possibl[ey]|probabl[ey]|likely|there|the|a|an|otherwise|status|"
    r"post-?surgical|chronic|old|healed|calcified)\b"
)
#: a finite verb / new clause start between cue and mention blocks the cue
FINITE_VERB = re.compile(
    r"\b(?:is|are|was|were|be|been|being|appears?|appeared|remains?|remained|seems?|has|have|had|shows?|showed|"
    r"demonstrates?|demonstrated|reveals?|revealed|there|which)\b"
)
#: a position phrase right before an anatomy mention ("granuloma over the heart") means it is not the observation
POSITIONAL = re.compile(
    r"(?:over|overl(?:y|ies|ying)|projects? over|projecting over|in|within|into|behind|along|near|adjacent to|at|"
    r"through|across|beneath|below|above) (?:the )?(?:(?:superior|inferior|left|right|lower|upper|anterior|"
    r"posterior|mid) )*$"
)


def compile_cues(cues: dict[str, tuple[str, ...]]) -> dict[str, re.Pattern[str]]:
    """One alternation per direction (``"PRE"`` / ``"POST"``), longest patterns first, word-start anchored."""
    return {
        direction: re.compile(
            "|".join(f"(?<![a-z])(?:{p})" for p in sorted(patterns, key=len, reverse=True))
        )
        for direction, patterns in cues.items()
    }

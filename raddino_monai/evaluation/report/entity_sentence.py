"""The ECAMP entity sentence from the rule-based CheXpert labeler (deviation 1 of ``docs/ecamp.md``).

ECAMP inserts an LLM-distilled "entity context" sentence into every report ([ECAMP] ToniChopp/ECAMP @ d02d16d
``Pre-training/module/pretrain_datasets.py`` 116-132, the ``llm_output`` column written by Vicuna). That model cannot
run offline here, so the sentence is derived from :class:`~raddino_monai.evaluation.report.labeler.CheXpertRuleLabeler`:
one phrase per observation the report mentions, in CheXpert order, ``"<observation>"`` when positive,
``"possible <observation>"`` when uncertain and ``"no <observation>"`` when negative (No Finding and blanks are
left out), joined by commas and ended with a full stop. The observation names put ECAMP's entity terms
(``effusion``, ``cardiomegaly``, ``edema``, ``pneumothorax``, ...) into the sentence, which is what its entity-aware
masking acts on; locations, sizes and descriptions, which the LLM sentences carry, are not produced.

Example:
    >>> CheXpertEntitySentence()("Mild cardiomegaly. No pneumothorax. Possible small left effusion.")
    'cardiomegaly, possible pleural effusion, no pneumothorax.'
"""

from __future__ import annotations

from raddino_monai.evaluation.report.labeler import NEGATIVE, POSITIVE, UNCERTAIN, CheXpertRuleLabeler
from raddino_monai.evaluation.report.observations import NO_FINDING

__all__ = ["CheXpertEntitySentence"]

_PREFIX = {POSITIVE: "", UNCERTAIN: "possible ", NEGATIVE: "no "}


class CheXpertEntitySentence:
    """``report -> entity sentence`` (the ``entity_fn`` of :class:`~raddino_monai.transforms.InsertEntityContextd`).

    Args:
        labeler: the labeler to use (default a new :class:`CheXpertRuleLabeler`).

    Returns (``__call__``):
        the sentence, or ``""`` when the report mentions no observation (nothing is inserted then).
    """

    def __init__(self, labeler: CheXpertRuleLabeler | None = None) -> None:
        self.labeler = labeler or CheXpertRuleLabeler()

    def __call__(self, report: str) -> str:
        labels = self.labeler.label(report)
        by_status: dict[int, list[str]] = {POSITIVE: [], UNCERTAIN: [], NEGATIVE: []}
        for name, status in labels.items():
            if name != NO_FINDING and status is not None:
                by_status[status].append(_PREFIX[status] + name.lower())
        phrases = by_status[POSITIVE] + by_status[UNCERTAIN] + by_status[NEGATIVE]
        return ", ".join(phrases) + "." if phrases else ""

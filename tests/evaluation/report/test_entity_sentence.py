"""CheXpertEntitySentence: one phrase per mentioned observation (positive, possible, no), ECAMP entity terms inside."""

from __future__ import annotations

from raddino_monai.evaluation.report.entity_sentence import CheXpertEntitySentence
from raddino_monai.transforms.entity_context import ECAMP_ENTITIES


def test_sentences() -> None:
    f = CheXpertEntitySentence()
    assert f("Mild cardiomegaly. No pneumothorax. Possible small left effusion.") == (
        "cardiomegaly, possible pleural effusion, no pneumothorax.")
    assert f("") == "" and f("Patient name withheld.") == ""
    sentence = f("Right lower lobe consolidation. Pulmonary edema is present.")
    assert sentence == "edema, consolidation."
    assert {w.strip(",.") for w in sentence.split()} <= set(ECAMP_ENTITIES)  # what ECAMP's masking acts on
    normal = f("The lungs are clear. No pleural effusion or pneumothorax.")
    assert normal.startswith("no ") and "no finding" not in normal

"""The offline CheXpert rule labeler on hand-written sentences (negation, uncertainty, scopes, aggregation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raddino_monai.evaluation.report.labeler import NEGATIVE, POSITIVE, UNCERTAIN, CheXpertRuleLabeler, clean_report
from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS, PHRASES

P, N, U = POSITIVE, NEGATIVE, UNCERTAIN


@pytest.fixture(scope="module")
def labeler() -> CheXpertRuleLabeler:
    return CheXpertRuleLabeler()


def _labels(labeler: CheXpertRuleLabeler, text: str) -> dict[str, int]:
    return {k: v for k, v in labeler.label(text).items() if v is not None and k != "No Finding"}


@pytest.mark.parametrize("text,expected", [
    # the brief's cases
    ("No pneumothorax.", {"Pneumothorax": N}),
    ("Cannot exclude effusion.", {"Pleural Effusion": U}),
    ("Heart size is normal.", {"Cardiomegaly": N}),
    ("Possible pneumonia.", {"Pneumonia": U}),
    ("No evidence of pleural effusion or pneumothorax.", {"Pleural Effusion": N, "Pneumothorax": N}),
    ("Stable cardiomegaly.", {"Cardiomegaly": P}),
    ("Interval resolution of the left pleural effusion.", {"Pleural Effusion": N}),
    # double negation / pseudo-negation: the finding is asserted
    ("The effusion has not resolved.", {"Pleural Effusion": P}),
    ("No change in the small left pleural effusion.", {"Pleural Effusion": P}),
    ("Pneumothorax is not excluded.", {"Pneumothorax": U}),
    ("Partial resolution of the right lower lobe consolidation.", {"Consolidation": P}),
    # negation scopes: lists, clauses, verbs
    ("No pneumothorax, pleural effusion, or focal airspace disease.",
     {"Pneumothorax": N, "Pleural Effusion": N, "Lung Opacity": N}),
    ("No pneumonia, effusions, edema, pneumothorax, nodules or masses.",
     {"Pneumonia": N, "Pleural Effusion": N, "Edema": N, "Pneumothorax": N, "Lung Lesion": N}),
    ("No pleural effusion is seen and the heart is enlarged.", {"Pleural Effusion": N, "Cardiomegaly": P}),
    ("No pneumothorax, but there is a small left effusion.", {"Pneumothorax": N, "Pleural Effusion": P}),
    ("No acute disease, stable cardiomegaly.", {"Cardiomegaly": P}),
    ("No acute, displaced rib fractures are identified.", {"Fracture": N}),
    ("The lungs are clear of focal airspace disease, pneumothorax, pleural effusion.",
     {"Lung Opacity": N, "Pneumothorax": N, "Pleural Effusion": N}),
    # anatomy phrases need a qualifier
    ("The heart is enlarged, lungs are clear.", {"Cardiomegaly": P}),
    ("Heart size, mediastinal contours, and lung volumes are normal.",
     {"Cardiomegaly": N, "Enlarged Cardiomediastinum": N}),
    ("Normal heart size and mediastinal contours.", {"Cardiomegaly": N, "Enlarged Cardiomediastinum": N}),
    ("Heart size is at the upper limits of normal.", {"Cardiomegaly": N}),
    ("The heart is not enlarged.", {"Cardiomegaly": N}),
    ("The heart and lungs have not changed.", {}),
    ("Stable cardiomediastinal silhouette.", {"Enlarged Cardiomediastinum": U}),
    ("The cardiac silhouette may be mildly enlarged.", {"Cardiomegaly": U}),
    ("Calcified granuloma projecting over the heart.", {}),
    # hedges and CheXpert's special rules
    ("Bibasilar opacities, likely atelectasis or pneumonia.",
     {"Lung Opacity": P, "Atelectasis": U, "Pneumonia": U}),
    ("Borderline cardiomegaly.", {"Cardiomegaly": U}),
    ("Mild pulmonary vascular congestion.", {"Edema": U}),
    ("Findings consistent with CHF.", {"Edema": P, "Cardiomegaly": U}),
    ("No new focal consolidation.", {"Consolidation": U}),
    ("Opacity which may represent atelectasis.", {"Lung Opacity": P, "Atelectasis": U}),
    ("Pneumothorax is suspected.", {"Pneumothorax": U}),
    # un-mentions and devices
    ("Small pericardial effusion.", {}),
    ("Left-sided pacemaker/defibrillator.", {"Support Devices": P}),
    ("Endotracheal tube has been removed.", {"Support Devices": N}),
    ("Interval removal of the right IJ central venous line.", {"Support Devices": N}),
    ("Cystic fibrosis.", {}),
    ("Biapical pleural-parenchymal scarring.", {"Pleural Other": P}),
    ("Healed left rib fracture.", {"Fracture": P}),
])  # fmt: skip
def test_sentences(labeler: CheXpertRuleLabeler, text: str, expected: dict[str, int]) -> None:
    assert _labels(labeler, text) == expected


def test_no_finding(labeler: CheXpertRuleLabeler) -> None:
    assert labeler.label("No acute cardiopulmonary abnormality.")["No Finding"] == P
    assert labeler.label("Heart size is normal. No pneumothorax.")["No Finding"] == P
    # a support device does not rule out No Finding; other observations and other findings do
    assert labeler.label("Left chest wall pacemaker. Lungs are clear.")["No Finding"] == P
    assert labeler.label("Possible small effusion.")["No Finding"] is None
    assert labeler.label("Degenerative changes of the thoracic spine.")["No Finding"] is None
    assert labeler.label("No emphysema.")["No Finding"] == P
    assert labeler.label("") == {name: None for name in CHEXPERT_OBSERVATIONS}


def test_aggregation_follows_chexpert(labeler: CheXpertRuleLabeler) -> None:
    # negative + positive -> positive; negative + uncertain -> uncertain
    assert labeler.label("No right effusion. Small left effusion.")["Pleural Effusion"] == P
    assert labeler.label("No right effusion. Possible left effusion.")["Pleural Effusion"] == U
    assert labeler.label("Possible left effusion. Small right effusion.")["Pleural Effusion"] == P


def test_mentions_carry_cue_and_span(labeler: CheXpertRuleLabeler) -> None:
    text = "Heart size is normal. Cannot exclude small left effusion."
    mentions = labeler.mentions(text)
    assert [(m.observation, m.status) for m in mentions] == [("Cardiomegaly", N), ("Pleural Effusion", U)]
    effusion = mentions[1]
    assert effusion.sentence[effusion.start : effusion.end] == effusion.phrase == "effusion"
    assert effusion.cue == "cannot exclude"


def test_label_many_shape_and_codes(labeler: CheXpertRuleLabeler) -> None:
    labels = labeler.label_many(["No pneumothorax.", "Possible pneumonia.", ""])
    assert labels.shape == (3, 14) and labels.dtype == float
    assert labels[0, CHEXPERT_OBSERVATIONS.index("Pneumothorax")] == 0
    assert labels[1, CHEXPERT_OBSERVATIONS.index("Pneumonia")] == -1
    assert np.isnan(labels[2]).all() and math.isnan(labels[0, CHEXPERT_OBSERVATIONS.index("Edema")])
    assert labeler.label_many([]).shape == (0, 14)


def test_clean_report() -> None:
    assert clean_report("Atelectasis  and/or\nPneumonia,left/right") == "atelectasis or pneumonia, left or right"


def test_phrase_table_is_validated() -> None:
    with pytest.raises(ValueError, match="CheXpert observations"):
        CheXpertRuleLabeler({"Heart Failure": PHRASES["Edema"]})
    with pytest.raises(ValueError, match="No Finding"):
        CheXpertRuleLabeler({"No Finding": PHRASES["Edema"]})

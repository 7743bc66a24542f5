"""The 14 CheXpert observations and the phrases that name each of them in a report.

Names and order follow the CheXpert data set's label columns (Irvin et al., AAAI 2019). The phrase lists are this
project's own regular expressions (matched on lower-cased text). Which words name which observation follows the
CheXpert labeler's phrase lists (stanfordmlgroup/chexpert-labeler ``phrases/mention|unmention/*.txt``, MIT
licence; read, not copied), with these deliberate differences, each listed in ``docs/report_labeler.md``:

* **anatomy phrases** (``heart size``, ``cardiac silhouette``, ``mediastinum`` ...) name Cardiomegaly / Enlarged
  Cardiomediastinum only together with a qualifier (enlarged, normal, stable ...; :mod:`.rules`). The CheXpert
  labeler counts a bare ``the heart`` as a positive Cardiomegaly mention unless a rule negates it.
* a few phrases added: ``ground glass``, ``haziness``, lung ``density`` (not bone / calcified / nodular),
  prominent / increased bronchovascular markings (Lung Opacity); ``hydrothorax`` (Pleural Effusion); pleural
  plaques and apical capping (Pleural Other); vascular lines, ports, stents, ``aicd`` (Support Devices); and
  un-mentions for ``cystic fibrosis``, soft-tissue oedema, anatomical lines (``pleural line``, ``kerley lines``),
  vertebral collapse.
* :data:`OTHER_FINDINGS` (abnormalities outside the 14 that rule out No Finding, the CheXpert labeler's
  ``no_finding.txt`` idea) adds low lung volumes, tortuous aorta, lymphadenopathy, cysts and bronchiectasis.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CHEXPERT_OBSERVATIONS",
    "COMPETITION_OBSERVATIONS",
    "NO_FINDING",
    "SUPPORT_DEVICES",
    "ObservationPhrases",
    "PHRASES",
    "OTHER_FINDINGS",
]

#: the 14 observations, in the column order of the CheXpert data set
CHEXPERT_OBSERVATIONS: tuple[str, ...] = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices",
)  # fmt: skip
#: the 5 CheXpert competition observations (micro-F1-5 of report-generation papers; f1chexbert ``target_names_5``)
COMPETITION_OBSERVATIONS: tuple[str, ...] = (
    "Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion",
)  # fmt: skip
NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"


@dataclass(frozen=True)
class ObservationPhrases:
    """Regular expressions (lower-case text) naming one observation.

    Attributes:
        mention: phrases that assert the observation (positive unless negated or hedged).
        anatomy: phrases naming the structure whose state is the observation (``heart size``); they count only
            with a qualifier (:data:`raddino_monai.evaluation.report.rules.POSITIVE_QUALIFIERS` ...).
        hedged: phrases that assert the observation only as uncertain (CheXpert: ``vascular congestion`` ->
            uncertain Edema).
        unmention: phrases that contain a mention but do not name the observation (``pericardial effusion``); a
            mention overlapping one is dropped.
    """

    mention: tuple[str, ...] = ()
    anatomy: tuple[str, ...] = ()
    hedged: tuple[str, ...] = ()
    unmention: tuple[str, ...] = ()


_HEART_ANATOMY = (
    r"heart size", r"size of the heart", r"heart(?! (?:failure|borders?|valves?|rate|disease|catheter))",
    r"cardiac (?:silhouette|size|shadow|contours?|diameter|outline|dimensions?)", r"cardiothoracic ratio",
    r"cardiopericardial silhouette", r"cardiac and mediastinal (?:contours?|silhouettes?)",
)  # fmt: skip
_MEDIASTINUM_ANATOMY = (
    r"(?<!pneumo)(?<!cardio)mediastinum", r"cardiomediastinum",
    r"(?:cardio)?mediastinal (?:and hilar )?(?:silhouettes?|contours?|configuration|shadow|width|structures)",
    r"cardiac and mediastinal (?:contours?|silhouettes?)", r"pericardial silhouette",
)  # fmt: skip

PHRASES: dict[str, ObservationPhrases] = {
    "Enlarged Cardiomediastinum": ObservationPhrases(
        mention=(r"widen\w* (?:of )?(?:the )?(?:superior )?mediastin\w*", r"mediastinal (?:widening|enlargement)",
                 r"enlarged (?:cardio)?mediastin\w*", r"cardiomediastinal enlargement"),
        anatomy=_MEDIASTINUM_ANATOMY,
        unmention=(r"pneumomediastinum",),
    ),
    "Cardiomegaly": ObservationPhrases(
        mention=(r"cardiomegaly", r"cardiac enlargement",
                 r"enlarge\w* (?:of )?(?:the )?(?:heart|cardiac (?:silhouette|shadow|contour|size))"),
        anatomy=_HEART_ANATOMY,
        unmention=(r"heart failure",),
    ),
    "Lung Opacity": ObservationPhrases(
        mention=(r"opaci\w*", r"decreased translucency", r"increased (?:density|attenuation)", r"densit(?:y|ies)",
                 r"air[- ]?space (?:disease|process|filling)", r"infiltrat\w*",
                 r"interstitial (?:markings?|patterns?|lung|prominence|thickening|changes?|disease|process)",
                 r"reticular (?:patterns?|markings?|changes?)", r"reticulation", r"reticulonodular",
                 r"parenchymal scar\w*", r"peribronchial (?:thickening|cuffing)", r"wall thickening",
                 r"scar(?:s|ring|red)?\b", r"ground[- ]glass", r"haz(?:y|iness)",
                 r"(?:increased|prominent|coarse(?:ned)?) (?:bronchovascular|interstitial|lung|pulmonary) markings",
                 r"(?:bronchovascular|lung) markings (?:are )?(?:increased|prominent|coarse(?:ned)?)"),
        unmention=(r"pleural[- ]?(?:parenchymal |peripheral )?scar\w*", r"pleuro-?(?:parenchymal|pericardial) scar\w*",
                   r"(?:nodular|calcified|bone|bony|soft[- ]tissue|breast|nipple|metallic|osseous|sclerotic) "
                   r"densit(?:y|ies)"),
    ),
    "Lung Lesion": ObservationPhrases(
        mention=(r"mass(?:es)?\b", r"nodules?\b",
                 r"nodular (?:densit(?:y|ies)|opacit(?:y|ies)|opacification|lesions?)", r"lump\w*",
                 r"cavitary (?:lesions?|mass(?:es)?|nodules?)", r"carcinoma", r"neoplas\w*", r"tumou?rs?\b"),
        unmention=(r"calcified (?:\w+ )?nodul\w*", r"mass effect"),
    ),
    "Edema": ObservationPhrases(
        mention=(r"edema", r"heart failure", r"\bchf\b", r"fluid overload"),
        hedged=(r"(?:pulmonary )?vascular congestion", r"pulmonary congestion", r"indistinctness",
                r"vascular prominence"),
        unmention=(r"(?:soft[- ]tissue|subcutaneous|extremity|chest wall) edema",),
    ),
    "Consolidation": ObservationPhrases(mention=(r"consolidat\w*",)),
    "Pneumonia": ObservationPhrases(
        mention=(r"\w*pneumonia", r"infection", r"infectious process", r"infectious"),
        unmention=(r"granulomatous (?:disease|infection)",),
    ),
    "Atelectasis": ObservationPhrases(
        mention=(r"atelecta\w*", r"collaps\w*"),
        unmention=(r"(?:vertebral|vertebra|compression)(?: body)? collaps\w*",),
    ),
    "Pneumothorax": ObservationPhrases(mention=(r"\w*pneumothora\w*",)),
    "Pleural Effusion": ObservationPhrases(
        mention=(r"pleural fluid", r"effusions?\b", r"hydrothorax", r"hydropneumothora\w*"),
        unmention=(r"pericardial effusions?", r"(?:joint|shoulder|knee|elbow) effusions?"),
    ),
    "Pleural Other": ObservationPhrases(
        mention=(r"pleural thickening", r"thickening of the pleura", r"pleural plaques?", r"fibrosis", r"fibrothorax",
                 r"pleural[- ]?(?:parenchymal |peripheral )?scar\w*", r"pleuro-?(?:parenchymal|pericardial) scar\w*",
                 r"apical (?:pleural )?capping", r"pleural caps?\b", r"fissural thickening",
                 r"thickening (?:of|in) the (?:\w+ )?fissures?"),
        unmention=(r"cystic fibrosis",),
    ),
    "Fracture": ObservationPhrases(mention=(r"fractur\w*", r"\bfx\b")),
    "Support Devices": ObservationPhrases(
        mention=(r"pacer\w*", r"pacemaker\w*", r"picc\b", r"tubes?\b", r"catheters?\b", r"hardware", r"arthroplast\w*",
                 r"markers?\b", r"\ba?icd\b", r"defibrillator\w*", r"devices?\b", r"drains?\b", r"plates?\b",
                 r"screws?\b", r"cannula\w*", r"apparatus", r"coils?\b", r"support (?:devices?|lines?|apparatus)",
                 r"life support", r"equipment", r"mediport", r"port-?a-?cath", r"(?:chest|power|infusion) port",
                 r"stents?\b", r"(?:pacing|pacer|pacemaker|monitor(?:ing)?|ekg|ecg|cardiac|epicardial|"
                 r"defibrillator|icd) (?:\w+ )?leads?\b", r"valve (?:replacement|prosthesis)",
                 r"prosthetic (?:\w+ )?valve", r"loop recorder",
                 r"(?:central|venous|picc|jugular|ij|subclavian|arterial|dialysis|hickman|swan[- ]ganz|femoral|"
                 r"access|midline) (?:\w+ ){0,2}lines?\b", r"tubes and lines", r"lines and tubes"),
        unmention=(r"tubes? (?:of|and) the (?:ear|eustachian)", r"(?:pleural|kerley|septal|fissural|paraspinal|"
                   r"paratracheal|azygoesophageal|junction) (?:b )?lines?", r"(?:device|marker) (?:of|for) "
                   r"(?:\w+ )?(?:interest|reference)"),
    ),
}

#: abnormalities outside the 14 observations; any positive or uncertain one rules out No Finding
OTHER_FINDINGS = ObservationPhrases(
    mention=(
        r"emphysema\w*", r"blunt\w*", r"elevat\w*", r"eventration", r"scolio\w*", r"degenerat\w*", r"calcifi\w*",
        r"calcinosis", r"hyperinflat\w*", r"hyperexpan\w*", r"hyperaerat\w*", r"hyperlucen\w*", r"bronchospasm",
        r"asthma", r"hernia\w*", r"\bcopd\b", r"chronic obstructive", r"plaques?\b", r"osteophyt\w*",
        r"spondylo\w*", r"aortic disease", r"bronchiolitis", r"airways? disease", r"thickening", r"cephalization",
        r"aspiration", r"bulla\w*", r"bullous", r"blebs?\b", r"contusion", r"atheroscleros\w*",
        r"atherosclerotic", r"osteopeni\w*", r"osteoporo\w*", r"metasta\w*", r"granulom\w*", r"pneumomediastinum",
        r"pneumoperitoneum", r"free (?:intraperitoneal |subdiaphragmatic )?air", r"osteodystroph\w*", r"cuffing",
        r"lucenc\w*", r"inflam\w*", r"hypertension", r"prominen\w*", r"kyphos\w*", r"kyphotic", r"bullets?\b",
        r"shrapnel", r"reticula\w*", r"thoracentesis", r"bronchitis", r"volume loss", r"deformit\w*",
        r"hemorrhag\w*", r"hematoma", r"radiopaque", r"aerophagia", r"arthropath\w*", r"arthriti\w*",
        r"tracheostomy", r"tortu\w*", r"ectatic", r"ectasia", r"aneurysm\w*", r"bronchiectasis", r"cysts?\b",
        r"cystic", r"low lung volumes?", r"hypoinflat\w*", r"poor(?:ly)? inflat\w*",
        r"(?:decreased|diminished|reduced) lung volumes?", r"sclero(?:sis|tic)", r"lymphadenopathy", r"adenopathy",
        r"hyperostosis",
    ),
)

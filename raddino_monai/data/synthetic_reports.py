"""Synthesized report text for datalists that have finding labels but no reports (the embedded sample data).

The embedded sample datalist (``raddino_monai/sample_data``) has no reports: the collection's free-text notes are
CC BY-NC-SA and Open-i reports are CC BY-NC-ND, so neither may be shipped. Image-text pretraining smoke runs
(ECAMP, ``bundles/ecamp``) therefore use short reports **written by this module** from each item's ``finding`` and
``view`` fields: phrases chosen by us, combined by a draw seeded from the image path. They are not radiologists'
reports, describe no real image beyond its dataset label, and exist only so that the text pipeline (entity sentence,
entity-aware masking, MLM) runs end to end on data the repository may ship. Real runs use a datalist with a
``report`` key.

Example:
    >>> synthetic_report({"image": "images/a.png", "finding": "No Finding", "view": "PA"})  # doctest: +SKIP
    'PA view of the chest. The lungs are clear. Heart size is normal. No pleural effusion or pneumothorax.'
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["FINDING_PHRASES", "synthetic_report", "with_synthetic_reports"]

#: finding label -> alternative first sentences (our own wording; one is drawn per image)
FINDING_PHRASES: dict[str, tuple[str, ...]] = {
    "COVID-19": (
        "Bilateral patchy opacities in the lower zones, possible viral pneumonia.",
        "Peripheral ground glass opacity in both lungs.",
        "Multifocal consolidation in the right lower lobe and left mid zone.",
        "Diffuse bilateral opacities, worse on the left.",
    ),
    "Pneumocystis": ("Diffuse bilateral interstitial opacities, possible pneumocystis pneumonia.",),
    "No Finding": ("The lungs are clear.", "There is no focal consolidation."),
}
_OTHER = ("Focal opacity in the right lung.",)
_HEART = ("Heart size is normal.", "The cardiomediastinal silhouette is within normal limits.", "Mild cardiomegaly.")
_PLEURA = ("No pleural effusion or pneumothorax.", "There is no evidence of pneumothorax.",
           "Small left pleural effusion.", "No pleural effusion.")


def synthetic_report(item: Mapping[str, Any]) -> str:
    """A short synthesized report for one datalist item (see the module docstring: not real report text).

    Args:
        item: datalist entry with ``image`` (its file name seeds the draw) and optional ``finding`` / ``label``
            and ``view``.

    Returns:
        view sentence (when the view is known) + finding sentence + heart sentence + pleura sentence.
    """
    name = str(item.get("image", "")).replace("\\", "/").rsplit("/", 1)[-1]  # the file name: same on every machine
    rng = np.random.RandomState(zlib.crc32(name.encode()))
    finding = str(item.get("finding") or item.get("label") or "")
    options = FINDING_PHRASES.get(finding, _OTHER)
    parts = []
    view = str(item.get("view") or "").strip()
    if view:
        parts.append(f"{view} view of the chest.")
    parts.append(options[rng.randint(len(options))])
    parts.append(_HEART[rng.randint(len(_HEART))])
    pleura = _PLEURA[:2] if finding == "No Finding" else _PLEURA
    parts.append(pleura[rng.randint(len(pleura))])
    return " ".join(parts)


def with_synthetic_reports(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``items`` in which an item without report text gets :func:`synthetic_report` under ``report``
    (items with a report keep theirs)."""
    out = []
    for item in items:
        d = dict(item)
        if not str(d.get("report") or "").strip():
            d["report"] = synthetic_report(d)
        out.append(d)
    return out

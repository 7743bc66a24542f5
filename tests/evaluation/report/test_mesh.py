"""MeSH -> CheXpert mapping and the agreement table (labeler validation on Open-i)."""

from __future__ import annotations

import numpy as np
import pytest

from raddino_monai.evaluation.report.mesh import agreement, mesh_observations
from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS


def test_mesh_observations() -> None:
    assert mesh_observations(["normal"]) == {"No Finding"}
    assert mesh_observations(["No Indexing"]) is None and mesh_observations([]) is None
    assert mesh_observations(["Cardiomegaly/borderline", "Opacity/lung/base/left"]) == {"Cardiomegaly", "Lung Opacity"}
    # sub-terms decide: pleural vs lung scarring, lung density vs rib density
    assert mesh_observations(["Cicatrix/pleura/apex"]) == {"Pleural Other"}
    assert mesh_observations(["Cicatrix/lung/base"]) == {"Lung Opacity"}
    assert mesh_observations(["Density/ribs/left"]) == set()
    assert mesh_observations(["Hydropneumothorax/right"]) == {"Pneumothorax", "Pleural Effusion"}
    assert mesh_observations(["Surgical Instruments/abdomen"]) == set()  # clips are not CheXpert support devices


def test_agreement_counts() -> None:
    col = CHEXPERT_OBSERVATIONS.index("Cardiomegaly")
    labels = np.full((4, 14), np.nan)
    labels[:, col] = [1, 1, -1, 0]
    mesh = [["Cardiomegaly"], ["normal"], ["Cardiomegaly/mild"], ["No Indexing"]]
    row = agreement(labels, mesh)[col]
    assert (row["n"], row["tp"], row["fp"], row["fn"], row["tn"]) == (3, 1, 1, 1, 0)
    assert row["precision"] == row["recall"] == row["f1"] == pytest.approx(50.0)
    row = agreement(labels, mesh, uncertain_as_positive=True)[col]
    assert (row["tp"], row["fp"], row["fn"]) == (2, 1, 0)
    with pytest.raises(ValueError, match="shape"):
        agreement(labels[:2], mesh)

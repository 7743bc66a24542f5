"""Shared constants of the real-server tests (imported by conftest.py and the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "raddino_monai" / "sample_data"
CLASSES = ["COVID-19", "No Finding", "Pneumocystis"]
TINY_HEAD = {"channels": 8, "neck_channels": 8}
REPORT_BUNDLE = "raddino_cxr_report"
#: tokenizer texts of the tiny report LM (written for these tests; no licence restrictions)
REPORT_TEXTS = [
    "The lungs are clear. No pleural effusion or pneumothorax. The heart size is normal.",
    "Right lower lobe consolidation. Small right pleural effusion.",
    "Cardiomegaly with mild pulmonary edema. No pneumothorax.",
    "Left upper lobe opacity, possibly pneumonia. Cannot exclude infection.",
]
SEG_SIZE = 56
#: datastore id -> source file; one non-square PNG (204 x 256), a JPEG copy, both DICOM photometries and a cropped
#: non-square DICOM, so shape and orientation errors cannot hide.
STUDIES = {
    "cyst": SAMPLE / "images" / "X-ray_of_cyst_in_pneumocystis_pneumonia_1.png",
    "a": SAMPLE / "images" / "00870a9c.png",
    "b": SAMPLE / "images" / "02b76460.png",
    "mono1": SAMPLE / "dicom" / "cxr_monochrome1_jpeg.dcm",
    "mono2": SAMPLE / "dicom" / "cxr_monochrome2_jpeg.dcm",
}


@dataclass
class Served:
    """A running server and what it serves."""

    url: str
    bundles: Path
    studies: Path
    checkpoint: Path
    process: object
    log: Path

"""Section extraction, section choice and sentence splitting on hand-made reports (raddino_monai.data.report_text)."""

from __future__ import annotations

import pytest

from raddino_monai.data.report_text import extract_sections, select_section

MIMIC_STYLE = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough  // eval for pneumonia

 TECHNIQUE:  Chest PA and lateral

 COMPARISON:  None.

 FINDINGS:

 There is no focal consolidation, pleural effusion or pneumothorax.  The
 cardiomediastinal silhouette is normal.

 IMPRESSION:

 No acute cardiopulmonary process.
"""


def test_mimic_style_headers() -> None:
    sections = extract_sections(MIMIC_STYLE)
    assert list(sections) == ["examination", "indication", "technique", "comparison", "findings", "impression"]
    assert sections["findings"] == ("There is no focal consolidation, pleural effusion or pneumothorax. The "
                                    "cardiomediastinal silhouette is normal.")
    assert sections["impression"] == "No acute cardiopulmonary process."
    assert sections["examination"] == "CHEST (PA AND LAT)"


@pytest.mark.parametrize("header,canonical", [
    ("IMPRESSIONS", "impression"), ("CONCLUSION", "impression"), ("FINDING", "findings"),
    ("FINDINGS AND IMPRESSION", "findings_impression"), ("FINDINGS/IMPRESSION", "findings_impression"),
    ("REASON FOR EXAM", "indication"), ("CLINICAL HISTORY", "history"), ("WET READ", "wet_read"),
])
def test_header_variants(header: str, canonical: str) -> None:
    assert extract_sections(f"EXAMINATION: chest.\n {header}: Text here.")[canonical] == "Text here."


def test_inline_and_mixed_case_headers_and_preamble() -> None:
    text = "Portable chest. Findings: Mild cardiomegaly. Impression: Cardiomegaly."
    assert extract_sections(text) == {"preamble": "Portable chest.", "findings": "Mild cardiomegaly.",
                                      "impression": "Cardiomegaly."}
    # a colon inside a sentence is not a header; unknown upper-case headers keep their own name
    assert extract_sections("FINDINGS: ET tube: 3 cm above carina.")["findings"] == "ET tube: 3 cm above carina."
    assert "pa_and_lateral_views" in extract_sections("PA AND LATERAL VIEWS: none.\nFINDINGS: Clear.")


def test_repeated_section_is_joined() -> None:
    assert extract_sections("IMPRESSION: One. IMPRESSION: Two.")["impression"] == "One. Two."


def test_select_section_policy() -> None:
    assert select_section(MIMIC_STYLE, "findings").startswith("There is no focal consolidation")
    assert select_section(MIMIC_STYLE, "findings+impression").endswith("No acute cardiopulmonary process.")
    assert select_section("INDICATION: x. IMPRESSION: Normal.", "findings") == ""
    assert select_section("INDICATION: x. IMPRESSION: Normal.", "findings", fallback="impression") == "Normal."
    assert select_section("FINDINGS AND IMPRESSION: Normal chest.", "findings") == "Normal chest."
    assert select_section("FINDINGS AND IMPRESSION: Normal chest.", "findings+impression") == "Normal chest."
    # free text without any header is the section itself
    assert select_section("No effusion.\n  Normal heart.", "impression") == "No effusion. Normal heart."
    assert select_section({"findings": "A.", "impression": None}, "findings+impression") == "A."
    assert select_section({"findings": "A.", "impression": "B."}, "full") == "A. B."
    with pytest.raises(ValueError, match="valid values"):
        select_section("x", "summary")


def test_split_sentences_moved_to_transforms() -> None:
    import raddino_monai.data.report_text as old
    from raddino_monai.transforms.text import split_sentences

    with pytest.warns(DeprecationWarning, match="moved to raddino_monai.transforms.text.split_sentences"):
        assert old.split_sentences is split_sentences  # its cases are in tests/transforms/test_text.py

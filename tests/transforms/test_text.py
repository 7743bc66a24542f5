"""Sentence splitting and ConVIRT's random-sentence sampling (determinism under set_random_state)."""

from __future__ import annotations

from collections import Counter

import pytest
from monai.transforms import Compose

from raddino_monai.transforms import RandSentence, RandSentenced, split_sentences

REPORT = """FINDINGS: The heart is
mildly enlarged. A 3.5 cm nodule, e.g. a granuloma, is seen in the
right upper lobe.. No pneumothorax!

IMPRESSION:
1. Cardiomegaly.
2. Dr. Smith was informed at 3 p.m. today. Is it new? XXXX. ."""


def test_split_sentences_by_hand() -> None:
    assert split_sentences(REPORT, clean=True) == [
        "The heart is mildly enlarged.",
        "A 3.5 cm nodule, e.g. a granuloma, is seen in the right upper lobe..",
        "No pneumothorax!",
        "Cardiomegaly.",
        "Dr. Smith was informed at 3 p.m.",  # a.m. / p.m. end a sentence (as in every Open-i report that has one)
        "today.",
        "Is it new?",
        "XXXX.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("  . .. \n\n  ", []),
        ("No effusion", ["No effusion"]),  # no final period
        ("Size 2.5 x 3.0 cm. Stable.", ["Size 2.5 x 3.0 cm.", "Stable."]),
        ("Seen on view A. Lungs clear.", ["Seen on view A. Lungs clear."]),  # single letter: initial, not an end
        ("Left lung:\nclear.", ["Left lung: clear."]),  # lower-case text with a colon is not a header
        ("- Tube in place.\n- Lines unchanged.", ["Tube in place.", "Lines unchanged."]),
    ],
)
def test_split_sentences_edge_cases(text: str, expected: list[str]) -> None:
    assert split_sentences(text, clean=True) == expected


def test_split_keeps_the_text_as_written_without_clean() -> None:
    """The labeler's and the truncation's view (clean=False): enumerators stay with their sentence, headers and
    letterless pieces stay, line breaks before list items end a sentence."""
    assert split_sentences(REPORT) == [
        "FINDINGS: The heart is mildly enlarged.",
        "A 3.5 cm nodule, e.g. a granuloma, is seen in the right upper lobe..",
        "No pneumothorax!",
        "IMPRESSION:",
        "1. Cardiomegaly.",
        "2. Dr. Smith was informed at 3 p.m.",
        "today.",
        "Is it new?",
        "XXXX.",
        ".",
    ]
    assert split_sentences("1. No effusion. 2. Stable 2.5 cm nodule.") == [
        "1. No effusion.", "2. Stable 2.5 cm nodule."]
    assert split_sentences("Approx. 3 cm, e.g. granuloma. Done!  Next?") == [
        "Approx. 3 cm, e.g. granuloma.", "Done!", "Next?"]
    assert split_sentences("Line one\n\nLine two\n1) item") == ["Line one", "Line two", "1) item"]
    assert split_sentences("Tubes, lines etc. No effusion.") == ["Tubes, lines etc. No effusion."]
    assert split_sentences("") == [] and split_sentences("no period at end") == ["no period at end"]


def test_split_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="string report"):
        split_sentences(None)  # type: ignore[arg-type]


def test_sampling_is_uniform_over_sentences() -> None:
    sampler = RandSentence(seed=0)
    counts = Counter(sampler(REPORT) for _ in range(8000))
    assert set(counts) == set(split_sentences(REPORT, clean=True))
    assert all(abs(c / 8000 - 1 / 8) < 0.02 for c in counts.values())  # 8 sentences, ~1000 each


def test_sampling_is_deterministic_under_seeding() -> None:
    assert RandSentence(seed=3)(REPORT) == RandSentence(seed=3)(REPORT)
    a, b = RandSentence().set_random_state(5), RandSentence().set_random_state(5)
    assert [a(REPORT) for _ in range(20)] == [b(REPORT) for _ in range(20)]
    c = RandSentence().set_random_state(6)
    assert [a(REPORT) for _ in range(20)] != [c(REPORT) for _ in range(20)]


def test_randomize_false_reuses_the_draw() -> None:
    sampler = RandSentence(seed=1)
    drawn = sampler(REPORT)
    assert all(sampler(REPORT, randomize=False) == drawn for _ in range(5))


def test_dictionary_version_in_a_compose() -> None:
    chain = Compose([RandSentenced("report", output_key="text")])
    items = [{"report": REPORT, "id": i} for i in range(10)]
    chain.set_random_state(11)
    out_a = [chain(dict(it))["text"] for it in items]
    chain.set_random_state(11)
    out_b = [chain(dict(it))["text"] for it in items]
    assert out_a == out_b and len(set(out_a)) > 1
    assert all(it["report"] == REPORT for it in items)  # the report is kept when output_key is given
    out = RandSentenced("report", seed=0)({"report": "Only one sentence."})
    assert out["report"] == "Only one sentence."


def test_empty_report_names_the_key() -> None:
    with pytest.raises(ValueError, match="'report'.*no sentence"):
        RandSentenced("report")({"report": " .. "})
    with pytest.raises(ValueError, match="'report'.*string"):
        RandSentenced("report")({"report": float("nan")})
    with pytest.raises(ValueError, match="exactly one report key"):
        RandSentenced(["a", "b"], output_key="text")

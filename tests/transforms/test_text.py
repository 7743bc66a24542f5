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
    assert split_sentences(REPORT) == [
        "The heart is mildly enlarged.",
        "A 3.5 cm nodule, e.g. a granuloma, is seen in the right upper lobe..",
        "No pneumothorax!",
        "Cardiomegaly.",
        "Dr. Smith was informed at 3 p.m. today.",
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
    assert split_sentences(text) == expected


def test_split_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="string report"):
        split_sentences(None)  # type: ignore[arg-type]


def test_sampling_is_uniform_over_sentences() -> None:
    sampler = RandSentence(seed=0)
    counts = Counter(sampler(REPORT) for _ in range(7000))
    assert set(counts) == set(split_sentences(REPORT))
    assert all(abs(c / 7000 - 1 / 7) < 0.02 for c in counts.values())  # 7 sentences, ~1000 each


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

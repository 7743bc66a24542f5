"""Synthesized sample reports: deterministic per image, from the finding label, existing reports kept."""

from __future__ import annotations

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.data.synthetic_reports import FINDING_PHRASES, synthetic_report, with_synthetic_reports


def test_reports_follow_the_labels_and_keep_real_ones() -> None:
    items = load_sample_datalist("training")
    out = with_synthetic_reports(items)
    assert len(out) == len(items) and all(o["report"] for o in out) and "report" not in items[0]
    assert [synthetic_report(i) for i in items] == [o["report"] for o in with_synthetic_reports(items)]
    for item, o in zip(items, out):
        assert any(p in o["report"] for p in FINDING_PHRASES[item["finding"]])
        assert o["report"].startswith(f"{item['view']} view of the chest.")
    assert len({o["report"] for o in out}) > 5
    kept = with_synthetic_reports([{"image": "a.png", "report": "Real text."}, {"image": "b.png", "report": " "}])
    assert kept[0]["report"] == "Real text." and kept[1]["report"].strip()


def test_the_draw_depends_on_the_file_name_only() -> None:
    a = synthetic_report({"image": "/data/x/images/00cfd1c1.png", "finding": "COVID-19", "view": "PA"})
    b = synthetic_report({"image": "images/00cfd1c1.png", "finding": "COVID-19", "view": "PA"})
    assert a == b

"""Tests of raddino_monai.data.datalist: JSON / CSV loading, validation and saving."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from raddino_monai.data import datalist as datalist_module
from raddino_monai.data.datalist import DatalistError, load_datalist, save_datalist, validate_datalist


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_json_decathlon_sections_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    file = _write_json(
        tmp_path / "lists" / "d.json",
        {
            "name": "demo",
            "labels": {"0": "normal"},
            "training": [{"image": "imgs/a.png", "mask": "../m/a.png", "label": 1, "patient_id": "0012"}],
            "validation": [{"image": "/abs/b.png", "label": [0, 1]}],
            "test": ["imgs/c.png"],
        },
    )
    base = tmp_path / "lists"
    train = load_datalist(file, split="training")
    assert train == [
        {
            "image": str(base / "imgs" / "a.png"),
            "mask": str(tmp_path / "m" / "a.png"),
            "label": 1,
            "patient_id": "0012",
            "split": "training",
        }
    ]
    assert load_datalist(file, split="validation")[0]["image"] == os.path.normpath("/abs/b.png")
    assert load_datalist(file, split="test") == [{"image": str(base / "imgs" / "c.png"), "split": "test"}]
    everything = load_datalist(file)
    assert [item["split"] for item in everything] == ["training", "validation", "test"]
    assert [i["image"] for i in load_datalist(file, split=["test", "training"])] == [
        str(base / "imgs" / "c.png"),
        str(base / "imgs" / "a.png"),
    ]
    other = load_datalist(file, split="test", base_dir=tmp_path / "elsewhere")
    assert other[0]["image"] == str(tmp_path / "elsewhere" / "imgs" / "c.png")


def test_json_plain_list_and_path_keys(tmp_path: Path) -> None:
    file = _write_json(tmp_path / "d.json", [{"image": "a.png", "views": ["x.png", "y.png"], "report": "r.txt"}])
    (item,) = load_datalist(file, path_keys=("image", "views"))
    assert item == {"image": str(tmp_path / "a.png"), "views": [str(tmp_path / "x.png"), str(tmp_path / "y.png")],
                    "report": "r.txt"}  # fmt: skip
    with pytest.raises(DatalistError, match="no sections"):
        load_datalist(file, split="training")


def test_unknown_split_lists_available_sections(tmp_path: Path) -> None:
    file = _write_json(tmp_path / "d.json", {"training": [{"image": "a.png"}], "test": [{"image": "b.png"}]})
    with pytest.raises(DatalistError, match=r"\['valid'\] not found; the file has \['training', 'test'\]"):
        load_datalist(file, split="valid")


@pytest.mark.parametrize(
    "content, message",
    [("{not json", "invalid JSON at line 1"), ('{"name": "x"}', "without any list of items"), ("3", "found int")],
)
def test_malformed_json(tmp_path: Path, content: str, message: str) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(DatalistError, match=message) as info:
        load_datalist(file)
    assert str(file) in str(info.value)


def test_missing_file_and_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_datalist(tmp_path / "missing.json")
    (tmp_path / "d.yaml").write_text("- image: a.png\n")
    with pytest.raises(DatalistError, match=r"'.yaml'; expected one of \['.json', '.csv'\]"):
        load_datalist(tmp_path / "d.yaml")


def test_csv_parsing_rules(tmp_path: Path) -> None:
    file = tmp_path / "d.csv"
    file.write_text(
        "image,mask,label,patient_id,age,weight,sex,report,split,extra\n"
        "a.png,ma.png,1,0012,44,70.5,M,no | acute findings,training,x\n"
        "b.png,,2|5,0013,,nan,F,,validation,\"[1, 2]\"\n"
        "c.png,,COVID-19,0014,3.5e1,,,,training,7\n",
        encoding="utf-8",
    )
    a, c = load_datalist(file, split="training")
    (b,) = load_datalist(file, split="validation")
    assert a == {"image": str(tmp_path / "a.png"), "mask": str(tmp_path / "ma.png"), "label": 1, "patient_id": "0012",
                 "age": 44, "weight": 70.5, "sex": "M", "report": "no | acute findings", "split": "training",
                 "extra": "x"}  # fmt: skip
    assert b["label"] == [2, 5] and b["mask"] is None and b["age"] is None and b["weight"] is None
    assert b["extra"] == [1, 2] and b["report"] is None
    assert c["label"] == "COVID-19" and c["age"] == 35.0 and c["extra"] == 7


def test_csv_without_split_column_and_empty_file(tmp_path: Path) -> None:
    file = tmp_path / "d.csv"
    file.write_text("image,label\na.png,0\n", encoding="utf-8")
    assert load_datalist(file) == [{"image": str(tmp_path / "a.png"), "label": 0}]
    file.write_text("", encoding="utf-8")
    with pytest.raises(DatalistError, match="header row"):
        load_datalist(file)


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_save_load_round_trip(tmp_path: Path, suffix: str) -> None:
    data = {
        "training": [
            {"image": str(tmp_path / "imgs" / "a.png"), "label": [0, 1], "patient_id": "007", "age": 50.0},
            {"image": str(tmp_path / "imgs" / "b.png"), "label": 2, "patient_id": "008", "age": None},
        ],
        "test": [{"image": str(tmp_path / "imgs" / "c.png"), "label": 1, "patient_id": "009", "age": 61.5}],
    }
    out = save_datalist(data, tmp_path / "out" / f"d{suffix}")
    assert "imgs/a.png" in out.read_text(encoding="utf-8") and str(tmp_path) not in out.read_text(encoding="utf-8")
    loaded = load_datalist(out)
    expected = [dict(item, split=name) for name, items in data.items() for item in items]
    if suffix == ".csv":  # an empty CSV cell reads back as None, like the original
        assert [sorted(i) for i in loaded] == [sorted(i) for i in expected]
    assert loaded == expected
    again = save_datalist(loaded, tmp_path / "plain.json")  # a plain list keeps each item's split field
    assert load_datalist(again) == expected


def test_save_keeps_absolute_paths_when_asked(tmp_path: Path) -> None:
    out = save_datalist([{"image": "/data/a.png"}], tmp_path / "d.json", relative=False)
    assert json.loads(out.read_text()) == [{"image": "/data/a.png"}]
    with pytest.raises(DatalistError, match="unsupported suffix"):
        save_datalist([], tmp_path / "d.txt")


def test_validate_collects_every_problem(tmp_path: Path, png_writer: Callable[..., Path]) -> None:
    good = png_writer("good.png")
    items = [
        {"image": str(good), "patient_id": "SECRET-ID"},
        {"label": 1, "patient_id": "SECRET-ID"},
        {"image": str(tmp_path / "missing.png"), "mask": str(tmp_path / "nomask.png"), "patient_id": "SECRET-ID"},
        "not-a-dict",
        {"image": 5},
    ]
    with pytest.raises(DatalistError) as info:
        validate_datalist(items, path_keys=("image", "mask"), source="train.json")
    problems = info.value.problems
    assert problems == [
        "item 1: key 'image': required, found no such key (item has ['label', 'patient_id'])",
        f"item 2: key 'image': file {tmp_path / 'missing.png'} does not exist",
        f"item 2: key 'mask': file {tmp_path / 'nomask.png'} does not exist",
        "item 3: expected a dict with an 'image' key (or an image path), found str 'not-a-dict'",
        "item 4: key 'image': expected a file path, found int 5",
    ]
    message = str(info.value)
    assert message.startswith("datalist train.json: 5 problem(s):") and "SECRET-ID" not in message
    validate_datalist(items[:1])


def test_validate_check_readable(tmp_path: Path, png_writer: Callable[..., Path]) -> None:
    good = png_writer("good.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("hello, not an image")
    items = [{"image": str(good)}, {"image": str(empty)}, {"image": str(text)}]
    validate_datalist(items, check_readable=False)
    with pytest.raises(DatalistError) as info:
        validate_datalist(items, check_readable=True)
    assert [p.split(" file ")[0] for p in info.value.problems] == ["item 1: key 'image':", "item 2: key 'image':"]
    assert str(empty) in info.value.problems[0] and str(text) in info.value.problems[1]


def test_validate_header_check_without_loader(
    tmp_path: Path, png_writer: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datalist_module, "_default_loader", lambda: None)
    dicom = tmp_path / "a.dcm"
    dicom.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    nifti = tmp_path / "a.nii"
    nifti.write_bytes((348).to_bytes(4, "little") + b"\0" * 200)
    jpeg = tmp_path / "a.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    empty = tmp_path / "e.png"
    empty.write_bytes(b"")
    text = tmp_path / "t.png"
    text.write_text("plain text")
    items = [{"image": str(p)} for p in (png_writer("g.png"), dicom, nifti, jpeg, empty, text)]
    with pytest.raises(DatalistError) as info:
        validate_datalist(items, check_readable=True)
    assert info.value.problems == [
        f"item 4: key 'image': file {empty} file is empty",
        f"item 5: key 'image': file {text} not a PNG, JPEG, DICOM (Part 10) or NIfTI file (unrecognised header)",
    ]


def test_sample_datalist_is_valid_and_readable() -> None:
    from raddino_monai.data.sample_data import sample_datalist_path

    items = load_datalist(sample_datalist_path())
    validate_datalist(items[:5], path_keys=("image", "mask"), check_readable=True, source="sample")
    validate_datalist(items, path_keys=("image", "mask"), required_keys=("image", "patient_id", "label"))


def test_malformed_items_are_named_by_index_key_and_problem(tmp_path: Path) -> None:
    """Issue 12 item 7: no image, an empty CSV cell, a list where one path is expected, wrong types."""
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps({"training": [
        {"image": "a.png", "label": 1},
        {"label": 0},
        {"image": ["a.png", "b.png"]},
        {"image": "c.png", "age": "54y", "label": {"x": 1}, "patient_id": ["SECRET"]},
        ["not", "an", "item"],
        {"image": "d.png", "id": "x"},
        {"image": "e.png", "id": "x"},
    ]}))
    with pytest.raises(DatalistError) as info:
        load_datalist(bad_json)
    problems = info.value.problems
    assert problems[0] == "item 1 [training]: key 'image': required, found no such key (item has ['label', 'split'])"
    assert problems[1] == "item 2 [training]: key 'image': expected one file path, found a list of 2"
    assert any(p.startswith("item 3 [training] (") and "key 'age': expected a number, found str '54y'" in p
               for p in problems)
    assert any("item 3" in p and "key 'label': expected an int, a class name" in p for p in problems)
    assert any("item 3" in p and "key 'patient_id': expected a string or an int, found list" in p for p in problems)
    assert "item 4: expected a dict with an 'image' key (or an image path), found list" in problems[-2]
    assert "item 6 [training]" in problems[-1] and "'x' is also the id of item 5" in problems[-1]
    assert "SECRET" not in str(info.value)  # identifier-like values are not echoed
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("image,label,age\na.png,1,50\n,0,61\n")  # empty image cell
    with pytest.raises(DatalistError, match=r"item 1: key 'image': required, found an empty value"):
        load_datalist(csv_file)
    assert len(load_datalist(csv_file, validate=False)) == 2  # opt-out for callers that validate themselves


def test_every_datalist_tool_path_validates_up_front(tmp_path: Path) -> None:
    """The runners behind tools/linear_probe, metadata_probe, segment and extract_embeddings all read through
    load_datalist / resolve_inputs, so a malformed item fails before any model is built."""
    from raddino_monai.evaluation.runners import load_splits
    from raddino_monai.inference import resolve_inputs

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"training": [{"label": 1}], "test": [{"image": "a.png"}]}))
    for call in (lambda: load_splits(bad), lambda: resolve_inputs(bad)):
        with pytest.raises(DatalistError, match=r"item 0 \[training\]: key 'image': required"):
            call()
    with pytest.raises(DatalistError, match=r"item 1: key 'image': expected one file path, found a list of 1"):
        resolve_inputs(["a.png", ["b.png"]])

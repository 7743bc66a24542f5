"""Retrieval runs: the CheXpert 8x200 CSV layout, datalist query/candidate sets, embedders, result files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.evaluation.retrieval_run import (
    RetrievalConfig,
    datalist_retrieval_sets,
    image_retrieval_job,
    read_convirt_retrieval_set,
    run_retrieval,
)

# the header of yuhaozhang/convirt candidate.csv (CheXpert train.csv columns); rows below are made up
HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", "Enlarged Cardiomediastinum",
          "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis",
          "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def _candidate(path: str, **labels: str) -> dict[str, str]:
    row = {k: "" for k in HEADER}
    row.update({"Path": path, "Sex": "Male", "Age": "60", "Frontal/Lateral": "Frontal", "AP/PA": "AP"})
    row.update({k.replace("_", " "): v for k, v in labels.items()})
    return row


def test_read_convirt_layout(tmp_path: Path) -> None:
    image_dir, text_dir = tmp_path / "image-retrieval", tmp_path / "text-retrieval"
    for folder in (image_dir, text_dir):
        folder.mkdir()
        _write(folder / "candidate.csv", HEADER, [
            _candidate("CheXpert-v1.0-small/train/p1/study1/view1_frontal.jpg", Edema="1.0", Pleural_Effusion="1.0"),
            _candidate("CheXpert-v1.0-small/train/p2/study1/view1_frontal.jpg", Edema="-1.0", Fracture="0.0"),
            _candidate("CheXpert-v1.0-small/train/p3/study1/view1_frontal.jpg", Fracture="1.0"),
        ])
    _write(image_dir / "query.csv", ["Variable", "Path"], [
        {"Variable": "Edema", "Path": "CheXpert-v1.0-small/train/p9/study2/view1_frontal.jpg"},
        {"Variable": "Fracture", "Path": "CheXpert-v1.0-small/train/p8/study1/view1_frontal.jpg"}])
    _write(text_dir / "query.csv", ["Variable", "Text"], [{"Variable": "Fracture", "Text": "A fracture is present."},
                                                           {"Variable": "Edema", "Text": "Edema is present."}])
    queries, candidates = read_convirt_retrieval_set(image_dir, image_root="/data/chexpert")
    assert queries[0] == {"id": "CheXpert-v1.0-small/train/p9/study2/view1_frontal.jpg", "label": "Edema",
                          "image": "/data/chexpert/CheXpert-v1.0-small/train/p9/study2/view1_frontal.jpg"}
    # only 1.0 is positive (-1 uncertain, 0 negative, "" unmentioned); only the query categories are labels
    assert [c["label"] for c in candidates] == [["Edema"], [], ["Fracture"]]
    text_queries, _ = read_convirt_retrieval_set(text_dir)
    assert text_queries[0] == {"id": "text_query_0", "label": "Fracture", "text": "A fracture is present."}
    _write(image_dir / "candidate.csv", ["Path", "Edema"], [{"Path": "x.jpg", "Edema": "1.0"}])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['Fracture'\]"):
        read_convirt_retrieval_set(image_dir)
    with pytest.raises(FileNotFoundError, match="query.csv"):
        read_convirt_retrieval_set(tmp_path)


def _datalist(tmp_path: Path, sections: bool) -> Path:
    items = load_sample_datalist("training")[:8]
    rows = [{"image": it["image"], "label": it["label"], "patient_id": it["patient_id"]} for it in items]
    data = {"query": rows[:3], "candidate": rows[3:]} if sections else {"training": rows}
    path = tmp_path / "retrieval.json"
    path.write_text(json.dumps(data))
    return path


def test_datalist_sets(tmp_path: Path) -> None:
    queries, candidates, loo = datalist_retrieval_sets(_datalist(tmp_path, sections=True), RetrievalConfig())
    assert (len(queries), len(candidates), loo) == (3, 5, False)
    queries, candidates, loo = datalist_retrieval_sets(_datalist(tmp_path, sections=False), RetrievalConfig())
    assert queries == candidates and len(queries) == 8 and loo
    with pytest.raises(ValueError, match="have no 'finding_code'"):
        datalist_retrieval_sets(_datalist(tmp_path, sections=False), RetrievalConfig(label_key="finding_code"))


def _lookup(table: dict[str, list[float]], key: str) -> Any:
    return lambda items: np.array([table[it[key]] for it in items])


def test_run_retrieval_directions() -> None:
    images = [{"id": "a", "image": "a.png", "label": "A"}, {"id": "b", "image": "b.png", "label": "B"},
              {"id": "c", "image": "c.png", "label": "A"}]
    texts = [{"id": "t0", "text": "finding a", "label": "A"}, {"id": "t1", "text": "finding b", "label": "B"}]
    image_emb = _lookup({"a.png": [1.0, 0.0], "b.png": [0.0, 1.0], "c.png": [0.9, 0.1]}, "image")
    text_emb = _lookup({"finding a": [1.0, 0.05], "finding b": [0.1, 1.0]}, "text")
    embedders = {"image": image_emb, "text": text_emb}
    t2i = run_retrieval(texts, images, "text_to_image", embedders, ks=(1, 2))
    assert t2i["precision"] == pytest.approx({1: 1.0, 2: 0.75}) and t2i["query_ids"] == ["t0", "t1"]
    i2t = run_retrieval(images, texts, "image_to_text", embedders, ks=(1,))
    assert i2t["precision"] == pytest.approx({1: 1.0})
    i2i = run_retrieval(images, images, "image_to_image", embedders, ks=(1,))  # leave-one-out: self excluded
    np.testing.assert_allclose(i2i["per_query"][1], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"needs embedders for \['text'\]"):
        run_retrieval(texts, images, "text_to_image", {"image": image_emb})
    with pytest.raises(ValueError, match="valid values"):
        run_retrieval(texts, images, "text_to_text", embedders)


def test_image_retrieval_job_files(tmp_path: Path) -> None:
    config = RetrievalConfig(ks=(1, 3), image_size=28, batch_size=8)
    out = image_retrieval_job("tiny_vit_p14", tmp_path / "out", config, datalist=_datalist(tmp_path, sections=True))
    result = out["result"]
    assert (result["n_queries"], result["n_candidates"]) == (3, 5)
    assert set(result["precision"]) == {1, 3} and all(0.0 <= v <= 1.0 for v in result["precision"].values())
    for name in ("results.csv", "results.md", "per_class.csv", "per_query.csv", "config.json", "embeddings.npz"):
        assert (tmp_path / "out" / name).is_file(), name
    config_json = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config_json["encoder"] == "tiny_vit_p14" and config_json["leave_one_out"] is False
    assert "precision@1" in (tmp_path / "out" / "results.md").read_text()

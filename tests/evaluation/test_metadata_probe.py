from __future__ import annotations

import math

import numpy as np
import pytest

from raddino_monai.evaluation.metadata_probe import (
    DEFAULT_BIN_EDGES,
    MetadataProbeConfig,
    bin_values,
    metadata_targets,
    probe_attribute,
    evaluate_metadata_probe,
)


def _items(n: int = 80) -> list[dict]:
    return [{"patient_id": f"p{i // 2}", "sex": "MF"[(i // 2) % 2], "age": 20 + (i // 2) * 2.0,
             "bmi": None if i % 7 == 0 else 17 + (i % 20)} for i in range(n)]


def test_bins_and_defaults() -> None:
    assert bin_values(np.array([18.4, 18.5, 24.9, 30.0, 40.0]), DEFAULT_BIN_EDGES["bmi"]).tolist() == [0, 1, 1, 3, 4]
    assert all(len(edges) == 4 for edges in DEFAULT_BIN_EDGES.values())  # 5 classes
    idx, vals = metadata_targets(_items(), "bmi")
    assert len(idx) == 80 - len(range(0, 80, 7)) and vals.dtype == np.float64
    with pytest.raises(ValueError, match="valid values"):
        MetadataProbeConfig(binning="kmeans")
    with pytest.raises(ValueError, match="no bin edges"):
        MetadataProbeConfig(attributes=("height",))


def test_sex_probe_on_separable_embeddings() -> None:
    items = _items()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6))
    x[:, 0] += np.array([4.0 if it["sex"] == "M" else 0.0 for it in items])
    res = probe_attribute(x, items, "sex", MetadataProbeConfig())
    assert len(res["accuracy"]) == 5 and res["mean"] > 0.9 and res["n_patients"] == 40


def test_all_attributes_and_skips() -> None:
    items = _items()
    x = np.random.default_rng(1).normal(size=(80, 4))
    res = evaluate_metadata_probe(x, items, MetadataProbeConfig(binning="quantile"))
    by = {r["attribute"]: r for r in res}
    assert set(by) == {"sex", "age", "weight", "bmi"}
    assert 0 <= by["age"]["mean"] <= 1 and len(by["age"]["class_counts"]) == 5
    assert math.isnan(by["weight"]["mean"]) and "skipped" in by["weight"]
    with pytest.raises(ValueError, match="same length"):
        probe_attribute(x[:3], items, "sex", MetadataProbeConfig())


def test_view_group_is_a_categorical_attribute():
    from raddino_monai.evaluation.metadata_probe import encode_view

    assert [encode_view(v) for v in ("PA", "ap", "LATERAL", None, "oblique")] == [0, 1, 2, None, None]


def test_c_grid_is_chosen_by_inner_grouped_cv() -> None:
    items = _items()
    male = np.array([1.0 if it["sex"] == "M" else 0.0 for it in items])
    # a weak shift spread over 200 dimensions (64 training images): strong L2 regularisation wins, C = 1e4 overfits
    x = np.random.default_rng(2).normal(size=(80, 200)) + 0.3 * male[:, None]
    grid = (1e-4, 1e-2, 1.0, 1e4)
    res = probe_attribute(x, items, "sex", MetadataProbeConfig(C=list(grid)))
    loose = probe_attribute(x, items, "sex", MetadataProbeConfig(C=1e4))
    assert len(res["C"]) == 5 and set(res["C"]) <= {1e-2, 1.0}
    assert loose["C"] == [1e4] * 5 and res["mean"] > loose["mean"]
    with pytest.raises(ValueError, match="must be > 0"):
        MetadataProbeConfig(C=())
    with pytest.raises(ValueError, match="inner_splits"):
        MetadataProbeConfig(C=[1.0], inner_splits=1)


def test_auroc_per_fold() -> None:
    items = [{**it, "view_group": ["PA", "AP", "LATERAL"][i % 3]} for i, it in enumerate(_items(90))]
    rng = np.random.default_rng(3)
    x = rng.normal(size=(90, 5))
    x[:, 0] += np.array([3.0 if it["sex"] == "M" else 0.0 for it in items])
    sex = probe_attribute(x, items, "sex", MetadataProbeConfig())
    assert len(sex["auroc"]) == 5 and sex["auroc_mean"] > 0.95
    view = probe_attribute(x, items, "view_group", MetadataProbeConfig())  # noise: 3 classes, chance AUROC 0.5
    assert len(view["auroc"]) == 5 and 0.3 < view["auroc_mean"] < 0.7
    assert math.isnan(probe_attribute(x, items, "weight", MetadataProbeConfig())["auroc_mean"])

"""Metadata probes on frozen embeddings (RAD-DINO [PAPER] §4.4, Table 7): sex, age, weight and BMI.

A scikit-learn ``LogisticRegression`` (on standardised embeddings, C chosen per fold from :data:`C_GRID`) predicts
each attribute from the frozen embedding; 5-fold cross-validation grouped by patient (``StratifiedGroupKFold``, so no
patient is in a training and a test fold at once) gives mean (std) accuracy and AUROC over folds. Sex is binary; age,
weight and BMI are binned into 5 classes.

Bin edges. **The paper's exact bin edges are not known to us** (they are not in the sources we have), so the default
edges below are our own fixed, quantile-free clinical choices (``binning="fixed"``):

* age (years): 30, 45, 60, 75 -> <30, 30-45, 45-60, 60-75, >=75 (15-year bands over the adult CXR population);
* weight (kg): 50, 65, 80, 95 -> 15 kg bands (no clinical standard exists; our choice);
* BMI (kg/m^2): 18.5, 25, 30, 35 -> WHO classes underweight / normal / overweight / obese I / obese II+.

``binning="quantile"`` instead puts the edges at the training-fold quintiles (balanced classes; computed inside each
fold, so the test fold never influences them). A value exactly on an edge goes to the upper bin.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from raddino_monai._compat import moved_names

from .metrics import classification_metrics, mean_std

__all__ = ["DEFAULT_BIN_EDGES", "SEX_CODES", "BINNINGS", "C_GRID", "CATEGORICAL_ATTRIBUTES", "MetadataProbeConfig",
           "bin_values", "encode_sex", "encode_view", "VIEW_CODES", "metadata_targets", "probe_attribute",
           "evaluate_metadata_probe"]

__getattr__ = moved_names(__name__)  # run_metadata_probe -> evaluate_metadata_probe

#: fixed, quantile-free default bin edges (ours; the paper's edges are unknown, see the module docstring).
DEFAULT_BIN_EDGES: dict[str, tuple[float, ...]] = {
    "age": (30.0, 45.0, 60.0, 75.0),
    "weight": (50.0, 65.0, 80.0, 95.0),
    "bmi": (18.5, 25.0, 30.0, 35.0),
}

#: accepted sex codes (case-insensitive) -> class index (0 = female, 1 = male).
SEX_CODES: dict[str, int] = {"f": 0, "female": 0, "w": 0, "m": 1, "male": 1}

BINNINGS: tuple[str, ...] = ("fixed", "quantile")

#: default grid of ``LogisticRegression`` C values, one chosen per fold by inner grouped CV (DINOv2's
#: ``eval/log_regression.py`` also picks C on held-out data). A fixed C = 1 over-fits a few hundred images with
#: 192-768 features and can score below the majority class (``docs/ssl_evidence.md``).
C_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass
class MetadataProbeConfig:
    """Metadata-probe settings.

    Args:
        attributes: attributes to probe; ``"sex"`` or any key of ``bin_edges``.
        bin_edges: inner edges per binned attribute (4 edges -> 5 classes); default :data:`DEFAULT_BIN_EDGES`.
        binning: ``"fixed"`` (``bin_edges``) or ``"quantile"`` (training-fold quintiles).
        n_bins: classes for ``"quantile"`` binning (5 [PAPER]).
        n_splits: CV folds (5 [PAPER]).
        seed: fold-assignment seed.
        C: inverse L2 regularisation strength of ``LogisticRegression``, or a grid of values (default :data:`C_GRID`):
            then each outer fold picks the value with the best mean accuracy in an inner ``StratifiedGroupKFold``
            (``inner_splits`` folds, grouped by patient) of its training part, as DINOv2's ``eval/log_regression.py``
            picks C on held-out data; the chosen values are reported as ``"C"``.
        inner_splits: inner folds for choosing ``C`` from a grid.
        max_iter: solver iterations.
        patient_key: item key grouping images of one patient.
    """

    attributes: tuple[str, ...] = ("sex", "age", "weight", "bmi")
    bin_edges: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_BIN_EDGES))
    binning: str = "fixed"
    n_bins: int = 5
    n_splits: int = 5
    seed: int = 0
    C: float | tuple[float, ...] = C_GRID
    inner_splits: int = 3
    max_iter: int = 2000
    patient_key: str = "patient_id"

    def __post_init__(self) -> None:
        if self.binning not in BINNINGS:
            raise ValueError(f"MetadataProbeConfig.binning={self.binning!r}; valid values: {list(BINNINGS)}.")
        self.attributes = tuple(self.attributes)
        unknown = [a for a in self.attributes if a not in CATEGORICAL_ATTRIBUTES and a not in self.bin_edges]
        if unknown:
            valid = [*CATEGORICAL_ATTRIBUTES, *self.bin_edges]
            raise ValueError(f"attributes {unknown} have no bin edges; valid attributes: {valid}.")
        self.bin_edges = {k: tuple(float(e) for e in v) for k, v in self.bin_edges.items()}
        self.C = tuple(float(c) for c in self.C) if isinstance(self.C, (tuple, list)) else float(self.C)
        grid = self.C if isinstance(self.C, tuple) else (self.C,)
        if not grid or min(grid) <= 0:
            raise ValueError(f"MetadataProbeConfig.C must be > 0 (a value or a non-empty grid), found {self.C!r}.")
        if self.inner_splits < 2:
            raise ValueError(f"MetadataProbeConfig.inner_splits must be >= 2, found {self.inner_splits}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings."""
        return dataclasses.asdict(self)


def bin_values(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Class index of each value: ``np.digitize`` with right-open bins (a value on an edge goes up).

    Example:
        >>> bin_values(np.array([10.0, 30.0, 59.9, 80.0]), (30, 45, 60, 75)).tolist()
        [0, 1, 2, 4]
    """
    return np.digitize(np.asarray(values, dtype=np.float64), np.asarray(edges, dtype=np.float64), right=False)


def encode_sex(value: Any) -> int | None:
    """0 (female) / 1 (male) from :data:`SEX_CODES`; ``None`` for a missing or unknown code."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return SEX_CODES.get(str(value).strip().lower())


#: view groups of a CXR datalist's ``view_group`` key (PA, AP incl. supine, lateral) -> class index.
VIEW_CODES: dict[str, int] = {"pa": 0, "ap": 1, "lateral": 2}


def encode_view(value: Any) -> int | None:
    """0 (PA) / 1 (AP) / 2 (LATERAL) from :data:`VIEW_CODES`; ``None`` for a missing or unknown view."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return VIEW_CODES.get(str(value).strip().lower())


#: categorical attributes -> parser of the raw value into a class index (``None`` = missing); others are binned.
#: ``view_group`` is not one of the paper's Table 7 attributes; it is a cheap acquisition-level probe for demos.
CATEGORICAL_ATTRIBUTES: dict[str, Callable[[Any], int | None]] = {"sex": encode_sex, "view_group": encode_view}


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def metadata_targets(items: Sequence[Mapping[str, Any]], attribute: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw targets of one attribute and the indices of the items that have it.

    Returns:
        ``(indices (M,), values (M,))``: sex as 0/1 ints, other attributes as floats (binned later per fold).
    """
    parse = CATEGORICAL_ATTRIBUTES.get(attribute, _number)
    pairs = [(i, parse(it.get(attribute))) for i, it in enumerate(items)]
    kept = [(i, v) for i, v in pairs if v is not None]
    return np.asarray([i for i, _ in kept], dtype=np.int64), np.asarray([v for _, v in kept], dtype=np.float64)


def _fold_labels(attribute: str, values: np.ndarray, train: np.ndarray, config: MetadataProbeConfig) -> np.ndarray:
    if attribute in CATEGORICAL_ATTRIBUTES:
        return values.astype(np.int64)
    if config.binning == "quantile":
        edges = np.unique(np.quantile(values[train], np.linspace(0, 1, config.n_bins + 1)[1:-1]))
    else:
        edges = np.asarray(config.bin_edges[attribute])
    return bin_values(values, edges)


def _classifier(c: float, config: MetadataProbeConfig) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=config.max_iter))


def _choose_c(x: np.ndarray, labels: np.ndarray, groups: np.ndarray, config: MetadataProbeConfig) -> float:
    """``config.C`` itself, or the grid value with the best inner grouped-CV accuracy (ties: the smaller C)."""
    if isinstance(config.C, float):
        return config.C
    n_splits = min(config.inner_splits, len(set(groups.tolist())))
    if n_splits < 2:
        return float(np.median(config.C))
    inner = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=config.seed)
    splits = [(tr, te) for tr, te in inner.split(x, labels, groups) if len(np.unique(labels[tr])) > 1]
    scores = []
    for c in sorted(config.C):
        accs = [(_classifier(c, config).fit(x[tr], labels[tr]).predict(x[te]) == labels[te]).mean()
                for tr, te in splits]
        scores.append((float(np.mean(accs)) if accs else 0.0, -c))
    return -max(scores)[1]


def _fold_auroc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Threshold-free companion of accuracy: AUROC of ``classes[1]`` for two classes, else the macro one-vs-rest
    AUROC over the classes the probe was trained on (test images of other classes are left out); NaN if undefined."""
    if len(classes) == 2:
        return classification_metrics((y == classes[1]).astype(int), proba[:, 1], "binary", ["positive"])["auroc"]
    keep = np.isin(y, classes)
    columns = np.searchsorted(classes, y[keep])
    return classification_metrics(columns, proba[keep], "multiclass", [str(c) for c in classes])["auroc"]


def probe_attribute(
    embeddings: np.ndarray, items: Sequence[Mapping[str, Any]], attribute: str, config: MetadataProbeConfig
) -> dict[str, Any]:
    """Grouped, stratified k-fold logistic-regression accuracy for one attribute.

    Args:
        embeddings: ``(N, F)`` frozen features of ``items`` (same order).
        items: datalist items with ``attribute`` and ``config.patient_key``.
        attribute: ``"sex"`` or a binned attribute.
        config: settings.

    Returns:
        ``{"attribute", "n_images", "n_patients", "accuracy": [per fold], "auroc": [per fold], "C": [per fold],
        "mean", "std", "auroc_mean", "auroc_std", "class_counts"}`` (``mean``/``std`` of the accuracy; AUROC is
        one-vs-rest, macro over classes for more than two);
        ``mean``/``std`` are NaN (with ``"skipped"`` giving the reason) when there are too few patients or classes.

    Raises:
        ValueError: ``embeddings`` and ``items`` differ in length.
    """
    if len(embeddings) != len(items):
        raise ValueError(f"embeddings ({len(embeddings)}) and items ({len(items)}) must have the same length.")
    idx, values = metadata_targets(items, attribute)
    groups = np.asarray([str(items[i].get(config.patient_key, f"__item{i}")) for i in idx])
    result: dict[str, Any] = {"attribute": attribute, "n_images": int(len(idx)),
                              "n_patients": int(len(set(groups.tolist()))), "accuracy": [], "auroc": [], "C": []}
    if len(idx) == 0:
        result.update(class_counts={}, mean=math.nan, std=math.nan, auroc_mean=math.nan, auroc_std=math.nan,
                      skipped=f"no item has {attribute!r}")
        return result
    all_labels = _fold_labels(attribute, values, np.arange(len(values)), config)
    result["class_counts"] = {int(k): int(v) for k, v in zip(*np.unique(all_labels, return_counts=True))}
    if result["n_patients"] < config.n_splits or len(result["class_counts"]) < 2:
        result.update(mean=math.nan, std=math.nan, auroc_mean=math.nan, auroc_std=math.nan,
                      skipped=f"{result['n_patients']} patients / {len(result['class_counts'])} classes with "
                              f"{attribute!r}; need >= {config.n_splits} patients and >= 2 classes")
        return result
    x = np.asarray(embeddings, dtype=np.float64)[idx]
    cv = StratifiedGroupKFold(n_splits=config.n_splits, shuffle=True, random_state=config.seed)
    for train, test in cv.split(x, all_labels, groups):
        labels = _fold_labels(attribute, values, train, config)
        if len(np.unique(labels[train])) < 2:
            continue
        c = _choose_c(x[train], labels[train], groups[train], config)
        clf = _classifier(c, config).fit(x[train], labels[train])
        result["C"].append(c)
        result["accuracy"].append(float((clf.predict(x[test]) == labels[test]).mean()))
        result["auroc"].append(_fold_auroc(labels[test], clf.predict_proba(x[test]), clf.classes_))
    result["mean"], result["std"] = mean_std(result["accuracy"])
    result["auroc_mean"], result["auroc_std"] = mean_std(result["auroc"])
    return result


def evaluate_metadata_probe(
    embeddings: np.ndarray, items: Sequence[Mapping[str, Any]], config: MetadataProbeConfig | None = None
) -> list[dict[str, Any]]:
    """:func:`probe_attribute` for every attribute of ``config``.

    Returns:
        one result dict per attribute, in ``config.attributes`` order.
    """
    config = config or MetadataProbeConfig()
    return [probe_attribute(embeddings, items, a, config) for a in config.attributes]

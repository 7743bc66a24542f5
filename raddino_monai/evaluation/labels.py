"""Turn datalist ``label`` values into probe targets for the three tasks of :data:`.tasks.TASKS`.

Accepted label values (docs/architecture.md, datalist format):

* ``"binary"``: an int in {0, 1}, a bool, or a class name (the positive class is ``classes[1]``);
* ``"multiclass"``: an int class index or a class name;
* ``"multilabel"``: a multi-hot list of ints of length C (CheXpert style), or a list of positive class names
  (an empty list = no finding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .tasks import TASKS

__all__ = ["infer_classes", "encode_targets", "num_outputs", "output_names"]


def _is_name(value: Any) -> bool:
    return isinstance(value, str)


def infer_classes(items: Sequence[Mapping[str, Any]], label_key: str, task: str) -> list[str]:
    """Class names found in the items: sorted names, or ``"0".."C-1"`` for integer labels.

    Args:
        items: datalist items.
        label_key: item key holding the label.
        task: one of :data:`TASKS`.

    Returns:
        class names (for ``"binary"`` two names, negative first).

    Raises:
        ValueError: unknown task, or an item without ``label_key``.
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; valid values: {list(TASKS)}.")
    missing = [str(it.get("image", i)) for i, it in enumerate(items) if it.get(label_key) is None]
    if missing:
        raise ValueError(f"{len(missing)} items have no {label_key!r} label, e.g. {missing[:3]}.")
    values = [it[label_key] for it in items]
    if task == "multilabel":
        if all(isinstance(v, (list, tuple)) and all(_is_name(x) for x in v) for v in values):
            return sorted({x for v in values for x in v})
        return [str(i) for i in range(max(len(v) for v in values))]
    if all(_is_name(v) for v in values):
        return sorted(set(values))
    n = max(int(v) for v in values) + 1
    return [str(i) for i in range(max(n, 2 if task == "binary" else n))]


def encode_targets(
    items: Sequence[Mapping[str, Any]], label_key: str, task: str, classes: Sequence[str]
) -> np.ndarray:
    """Encode labels as ``(N,)`` ints (binary / multi-class) or ``(N, C)`` multi-hot ints (multi-label).

    Args:
        items: datalist items.
        label_key: item key holding the label.
        task: one of :data:`TASKS`.
        classes: class names (from :func:`infer_classes` or the datalist's ``labels``).

    Returns:
        target array.

    Raises:
        ValueError: a label that is not one of ``classes`` / out of range / of the wrong length, naming the image.

    Example:
        >>> encode_targets([{"label": "b"}, {"label": "a"}], "label", "multiclass", ["a", "b"]).tolist()
        [1, 0]
    """
    index = {name: i for i, name in enumerate(classes)}
    n_out = len(classes)
    rows: list[Any] = []
    for i, item in enumerate(items):
        value, where = item.get(label_key), item.get("image", f"item {i}")
        try:
            if task == "multilabel":
                row = np.zeros(n_out, dtype=np.int64)
                names = [x for x in value if _is_name(x)] if isinstance(value, (list, tuple)) else None
                if names is not None and len(names) == len(value):
                    row[[index[x] for x in names]] = 1
                elif isinstance(value, (list, tuple)) and len(value) == n_out:
                    row[:] = [int(x) for x in value]
                else:
                    raise ValueError(f"expected a multi-hot list of length {n_out} or a list of class names")
                rows.append(row)
            else:
                k = index[value] if _is_name(value) else int(value)
                if not 0 <= k < n_out:
                    raise ValueError(f"class index outside [0, {n_out})")
                rows.append(k)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"{where}: cannot encode {label_key}={value!r} for task {task!r} with classes {list(classes)}: {err}"
            ) from err
    return np.asarray(rows, dtype=np.int64)


def num_outputs(task: str, classes: Sequence[str]) -> int:
    """Number of classifier outputs: 1 logit for binary, C otherwise."""
    return 1 if task == "binary" else len(classes)


def output_names(task: str, classes: Sequence[str]) -> list[str]:
    """Names of the scored columns: the positive class for binary, every class otherwise."""
    return [classes[-1]] if task == "binary" else list(classes)

"""Datalists: load, validate and save lists of images with their labels and metadata.

A datalist is a list of items, one per image. Each item is a dict with the keys below; only ``image`` is required.

============== ============================================================================================
key            meaning
============== ============================================================================================
``image``      path of the image (PNG, JPEG, DICOM, NIfTI); relative to the datalist's folder unless absolute
``mask``       path of a segmentation mask with the image's size (optional)
``label``      int, list of ints (multi-label), or class name
``report``     free-text radiology report
``patient_id`` patient identifier; every split is made by patient (:mod:`raddino_monai.data.splits`)
``sex``        ``"M"`` / ``"F"``; ``age``, ``weight``, ``bmi``: numbers; ``view``: e.g. ``"PA"``, ``"AP"``
============== ============================================================================================

Any other key is kept as is. Two file formats are read by :func:`load_datalist` and written by
:func:`save_datalist`:

* **JSON**, decathlon style: ``{"training": [...], "validation": [...], "test": [...]}`` (other top-level keys
  such as ``"name"`` or ``"labels"`` are ignored; any top-level key holding a list of item dicts is a section, and
  ``training`` / ``validation`` / ``test`` may also list bare image paths, meaning ``{"image": path}``), or a plain
  JSON list of items (no sections).
* **CSV**, one row per image with a header row. An optional ``split`` column names each row's section. Cell values
  are parsed: an empty cell (or ``nan``) is ``None``; a cell holding a JSON list (``[0, 1]``) is that list; integer
  and decimal numbers become ``int`` / ``float``, except in the text columns :data:`TEXT_KEYS` and the path columns,
  which stay strings (so a patient id ``"0012"`` keeps its zeros); in the ``label`` column ``a|b|c`` is a list
  (each part parsed as a number when it is one).

Relative paths in the path keys (default :data:`DEFAULT_PATH_KEYS`, i.e. ``image`` and ``mask``; a ``mask`` may also
be a list of paths) are resolved against the datalist's folder, or ``base_dir`` when given. :func:`load_datalist`
validates every item before returning (:func:`validate_datalist` without the file checks): a missing or empty
``image``, a list where one path is expected, a value of the wrong type (:data:`KEY_TYPES`) or a duplicate ``id``
raises one :class:`DatalistError` naming each item's index, key and problem, before any work starts. See
docs/datalist.md.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PATH_KEYS",
    "TEXT_KEYS",
    "KEY_TYPES",
    "DatalistError",
    "load_datalist",
    "validate_datalist",
    "save_datalist",
]

DEFAULT_PATH_KEYS: tuple[str, ...] = ("image", "mask")
"""Item keys whose values are file paths (resolved against the datalist's folder)."""
TEXT_KEYS: tuple[str, ...] = ("patient_id", "report", "sex", "view", "split", "finding")
"""CSV columns never parsed as numbers."""
LIST_LABEL_KEYS: tuple[str, ...] = ("label",)
"""CSV columns where ``a|b`` means a list."""
SUFFIXES: tuple[str, ...] = (".json", ".csv")
STANDARD_SECTIONS: tuple[str, ...] = ("training", "validation", "test")
"""Decathlon section names; only these may hold bare image paths instead of item dicts."""

SINGLE_PATH_KEYS: tuple[str, ...] = ("image",)
"""Path keys that must hold exactly one path (``mask`` may list one file per structure)."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_label(v: Any) -> bool:
    if isinstance(v, (list, tuple)):
        return len(v) > 0 and all(_is_number(x) or isinstance(x, str) for x in v)
    return _is_number(v) or isinstance(v, str)


#: item key -> (check of a non-None value, what is expected); ``None`` values mean "unknown" and are always allowed
KEY_TYPES: dict[str, tuple[Any, str]] = {
    "label": (_is_label, "an int, a class name, or a non-empty list of ints / class names"),
    "patient_id": (lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "a string or an int"),
    "id": (lambda v: isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != "", "a non-empty string"),
    "sex": (lambda v: isinstance(v, str), "a string such as 'M' or 'F'"),
    "view": (lambda v: isinstance(v, str), "a string such as 'PA'"),
    "report": (lambda v: isinstance(v, str), "a string"),
    "age": (_is_number, "a number"),
    "weight": (_is_number, "a number"),
    "bmi": (_is_number, "a number"),
}

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class DatalistError(ValueError):
    """A datalist could not be read or has problems; ``problems`` lists each one (item index and path).

    Args:
        source: the datalist (file name or description) the problems belong to.
        problems: one human-readable line per problem.
    """

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"datalist {source}: {len(self.problems)} problem(s):\n{lines}")


def _parse_cell(key: str, value: str | None, path_keys: Sequence[str]) -> Any:
    if value is None:
        return None
    text = value.strip()
    if not text or text.lower() == "nan":
        return None
    if text.startswith("[") and text.endswith("]"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    if key in path_keys or key in TEXT_KEYS:
        return text
    if key in LIST_LABEL_KEYS and "|" in text:
        return [_parse_cell("", part, ()) for part in text.split("|")]
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _is_section(key: str, value: list[Any]) -> bool:
    """A list of item dicts, or any list under a standard section name (whose entries are then validated item by
    item, so a malformed entry is reported by index instead of hiding the whole section)."""
    return key in STANDARD_SECTIONS or (len(value) > 0 and all(isinstance(i, dict) for i in value))


def _read_json(path: Path) -> dict[str, list[Any]] | list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatalistError(str(path), [f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"]) from err
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        sections = {k: v for k, v in data.items() if isinstance(v, list) and _is_section(k, v)}
        if sections:
            return sections
    raise DatalistError(
        str(path),
        ["expected a JSON list of items or a decathlon dict like {'training': [...], 'test': [...]}, "
         f"found {type(data).__name__} without any list of items"],
    )  # fmt: skip


def _read_csv(path: Path, path_keys: Sequence[str]) -> dict[str, list[Any]] | list[Any]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise DatalistError(str(path), ["expected a header row (e.g. 'image,label,patient_id'), found none"])
        rows = [{k: _parse_cell(k, v, path_keys) for k, v in row.items() if k is not None} for row in reader]
    if "split" not in (reader.fieldnames or []):
        return rows
    sections: dict[str, list[Any]] = {}
    for row in rows:
        sections.setdefault(str(row.pop("split") or ""), []).append(row)
    return sections


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, (list, tuple)):
        return [_resolve(v, base) for v in value]
    if isinstance(value, (str, os.PathLike)) and str(value):
        path = Path(value).expanduser()
        return os.path.normpath(path if path.is_absolute() else base / path)
    return value


def load_datalist(
    path: str | os.PathLike[str],
    split: str | Sequence[str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    path_keys: Sequence[str] = DEFAULT_PATH_KEYS,
    validate: bool = True,
) -> list[dict[str, Any]]:
    """Read a JSON or CSV datalist (format: module docstring) into a list of items with absolute paths.

    Args:
        path: ``.json`` or ``.csv`` file.
        split: section(s) to return (e.g. ``"training"`` or ``["training", "validation"]``); ``None`` returns every
            item. Items from a file with sections get a ``"split"`` key naming their section (unless they have one).
        base_dir: folder that relative paths are resolved against; default: the datalist's folder.
        path_keys: item keys holding file paths.
        validate: check every item (:func:`validate_datalist` with ``check_files=False``) before returning.

    Returns:
        list of item dicts (new objects), in file order, sections in file order.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        DatalistError: for an unsupported suffix, malformed content, a ``split`` that the file does not have
            (the message lists the sections it has), or malformed items (each named by index, key and problem).

    Example:
        >>> from raddino_monai.data.sample_data import sample_datalist_path
        >>> items = load_datalist(sample_datalist_path(), split="training")
        >>> Path(items[0]["image"]).is_absolute()
        True
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"load_datalist: datalist file {file} does not exist.")
    readers = {".json": lambda p: _read_json(p), ".csv": lambda p: _read_csv(p, path_keys)}
    if file.suffix.lower() not in readers:
        raise DatalistError(str(file), [f"unsupported suffix {file.suffix!r}; expected one of {list(SUFFIXES)}"])
    data = readers[file.suffix.lower()](file)
    base = Path(base_dir).expanduser() if base_dir is not None else file.parent
    wanted = [split] if isinstance(split, str) else (list(split) if split is not None else None)
    if isinstance(data, list):
        if wanted is not None:
            raise DatalistError(
                str(file), [f"split {wanted} requested but the file has no sections (no 'split' column / JSON list)"]
            )
        sections: dict[str, list[Any]] = {"": data}
    else:
        missing = [name for name in (wanted or []) if name not in data]
        if missing:
            raise DatalistError(str(file), [f"split(s) {missing} not found; the file has {list(data)}"])
        sections = {name: data[name] for name in (wanted or list(data))}
    items: list[dict[str, Any]] = []
    for name, section in sections.items():
        for raw in section:
            if not isinstance(raw, (str, Mapping)):
                items.append(raw)  # reported by validate_datalist with its index
                continue
            item = {"image": raw} if isinstance(raw, str) else dict(raw)
            for key in path_keys:
                if key in item:
                    item[key] = _resolve(item[key], base)
            if name:
                item.setdefault("split", name)
            items.append(item)
    if validate:
        validate_datalist(items, path_keys=path_keys, check_files=False, source=str(file))
    return items


def _header_problem(path: Path) -> str | None:
    """Cheap format check from the first bytes, used when the package's loader is unavailable."""
    with path.open("rb") as f:
        head = f.read(132)
    if not head:
        return "file is empty"
    name = path.name.lower()
    signatures = (
        head.startswith(b"\x89PNG\r\n\x1a\n"),
        head.startswith(b"\xff\xd8\xff"),
        head[128:132] == b"DICM",
        head.startswith(b"\x1f\x8b") and name.endswith(".gz"),
        len(head) >= 4 and int.from_bytes(head[:4], "little") == 348 and name.endswith((".nii", ".hdr")),
    )
    return None if any(signatures) else "not a PNG, JPEG, DICOM (Part 10) or NIfTI file (unrecognised header)"


def _load_problem(path: Path, loader: Any) -> str | None:
    if loader is None:
        return _header_problem(path)
    try:
        loader(str(path))
    except Exception as err:  # noqa: BLE001 - any reader failure is reported as a datalist problem
        return f"unreadable: {type(err).__name__}: {err}"
    return None


def _default_loader() -> Any:
    """``raddino_monai.transforms.LoadCXR()`` when that module is importable, else ``None`` (header check)."""
    try:
        from raddino_monai.transforms import LoadCXR
    except ImportError:
        return None
    return LoadCXR()


def validate_datalist(
    items: Sequence[Any],
    path_keys: Sequence[str] = ("image",),
    required_keys: Sequence[str] = ("image",),
    check_readable: bool = False,
    source: str = "<items>",
    check_files: bool = True,
) -> None:
    """Check every item and raise one :class:`DatalistError` listing all problems found.

    Checks, per item: it is a dict; each of ``required_keys`` is present and not ``None`` / empty; each path key
    present holds a path (``image``: exactly one, :data:`SINGLE_PATH_KEYS`; others: a path or a list of paths); the
    known keys hold values of the expected type (:data:`KEY_TYPES`); ``id`` values are unique; with
    ``check_files``, each path is an existing file, and with ``check_readable`` each such file can be read
    (``raddino_monai.transforms.LoadCXR`` if available, otherwise a check of the file header). Each problem names the
    item index (and its section), the key and what was expected and found; never patient identifiers.

    Args:
        items: datalist items, e.g. from :func:`load_datalist` (relative paths are taken relative to the CWD).
        path_keys: item keys whose values must be file paths when present.
        required_keys: item keys every item must have.
        check_readable: also read each file (slow for large datalists; implies ``check_files``).
        source: name used in the error message (e.g. the datalist file).
        check_files: check that the paths exist (``load_datalist`` validates without it: missing files are the
            loaders' and datasets' concern, which can skip and count them).

    Raises:
        DatalistError: if any problem is found; ``err.problems`` lists them.

    Example:
        >>> try:
        ...     validate_datalist([{"image": "/nonexistent.png"}, {"label": 1}], source="demo.json")
        ... except DatalistError as err:
        ...     print(err)
        datalist demo.json: 2 problem(s):
          - item 0: key 'image': file /nonexistent.png does not exist
          - item 1: key 'image': required, found no such key (item has ['label'])
    """
    loader = _default_loader() if check_readable else None
    check_files = check_files or check_readable
    problems: list[str] = []
    ids: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(f"item {index}: expected a dict with an 'image' key (or an image path), found "
                            f"{_short(item)}")
            continue
        where = f"item {index}" + (f" [{item['split']}]" if isinstance(item.get("split"), str) and item["split"] else "")
        image = item.get("image")
        named = where + (f" ({image})" if isinstance(image, (str, os.PathLike)) and str(image) else "")
        for key in required_keys:
            if item.get(key) is None or (isinstance(item.get(key), str) and not item[key].strip()):
                found = "an empty value" if key in item else f"no such key (item has {sorted(item)})"
                problems.append(f"{named}: key {key!r}: required, found {found}")
        problems += _type_problems(named, item)
        if item.get("id") is not None:
            first = ids.setdefault(str(item["id"]), index)
            if first != index:
                problems.append(f"{named}: key 'id': {item['id']!r} is also the id of item {first}; ids must be unique")
        for key in path_keys:
            value = item.get(key)
            if value is None:
                continue
            if key in SINGLE_PATH_KEYS and isinstance(value, (list, tuple)):
                problems.append(f"{where}: key {key!r}: expected one file path, found a list of {len(value)}")
                continue
            for entry in value if isinstance(value, (list, tuple)) else [value]:
                if not isinstance(entry, (str, os.PathLike)) or not str(entry).strip():
                    problems.append(f"{where}: key {key!r}: expected a file path, found {_short(entry)}")
                    continue
                path = Path(entry)
                if not check_files:
                    continue
                if not path.is_file():
                    problems.append(f"{where}: key {key!r}: file {path} does not exist")
                elif check_readable:
                    reason = _load_problem(path, loader)
                    if reason is not None:
                        problems.append(f"{where}: key {key!r}: file {path} {reason}")
    if problems:
        raise DatalistError(source, problems)


def _short(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _type_problems(where: str, item: Mapping[str, Any]) -> list[str]:
    """Values of the known keys (:data:`KEY_TYPES`) that have the wrong type (values are not echoed for the
    identifier-like keys)."""
    problems = []
    for key, (ok, expected) in KEY_TYPES.items():
        value = item.get(key)
        if value is not None and not ok(value):
            shown = type(value).__name__ if key in ("patient_id", "report") else _short(value)
            problems.append(f"{where}: key {key!r}: expected {expected}, found {shown}")
    return problems


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return str(value)


def _relative(value: Any, base: Path) -> Any:
    if isinstance(value, (list, tuple)):
        return [_relative(v, base) for v in value]
    if isinstance(value, (str, os.PathLike)) and Path(value).is_absolute():
        try:
            return Path(os.path.relpath(value, base)).as_posix()
        except ValueError:  # different drive on Windows
            return str(value)
    return value


def save_datalist(
    data: Mapping[str, Sequence[Mapping[str, Any]]] | Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    path_keys: Sequence[str] = DEFAULT_PATH_KEYS,
    relative: bool = True,
) -> Path:
    """Write a datalist as decathlon JSON or CSV (chosen by the suffix of ``path``), readable by :func:`load_datalist`.

    Args:
        data: ``{"training": [...], ...}`` sections, or a plain list of items (a ``"split"`` key in the items is
            then kept as a field / CSV column).
        path: output ``.json`` or ``.csv`` file; its folder is created.
        path_keys: item keys holding file paths.
        relative: write absolute paths relative to the datalist's folder (POSIX separators), so the datalist can
            be moved together with its images.

    Returns:
        the written path.

    Raises:
        DatalistError: for an unsupported suffix.

    Example:
        >>> import tempfile
        >>> out = save_datalist({"training": [{"image": "a.png", "label": 1}]}, Path(tempfile.mkdtemp()) / "d.csv")
        >>> out.read_text().splitlines()
        ['image,label,split', 'a.png,1,training']
    """
    file = Path(path).expanduser()
    if file.suffix.lower() not in SUFFIXES:
        raise DatalistError(str(file), [f"unsupported suffix {file.suffix!r}; expected one of {list(SUFFIXES)}"])
    file.parent.mkdir(parents=True, exist_ok=True)
    base = file.parent.resolve()

    def prepared(item: Mapping[str, Any], section: str = "") -> dict[str, Any]:
        out = {k: v for k, v in item.items() if not (section and k == "split" and v == section)}
        for key in path_keys:
            if key in out and relative:
                out[key] = _relative(out[key], base)
        return out

    if isinstance(data, Mapping):
        sections = {name: [prepared(i, name) for i in items] for name, items in data.items()}
    else:
        sections = {"": [prepared(i) for i in data]}
    if file.suffix.lower() == ".json":
        payload: Any = sections[""] if "" in sections else sections
        file.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        return file
    rows = []
    for name, items in sections.items():
        for item in items:
            row = {k: v for k, v in item.items() if not (name and k == "split")}
            rows.append({**row, "split": name} if name else row)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with file.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: _csv_cell(row.get(k)) for k in columns} for row in rows)
    return file

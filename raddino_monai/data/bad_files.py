"""Skip and count bad files: the one mechanism every training, extraction, probe, segmentation and inference path uses.

A *bad file* is a datalist item whose loading raises :class:`~raddino_monai.transforms.errors.CXRLoadError` (or
``FileNotFoundError``), also when MONAI wraps it in a ``RuntimeError``; any other exception is a bug and propagates.

Pieces (each path combines them; the counting and the stop rule live in one place, :class:`BadFileLog`):

* :class:`SkipBadFiles` wraps a map-style dataset. An item that fails to load becomes a :class:`BadFile` marker
  (``substitute=False``: evaluation, extraction, inference; the item is left out) or is replaced by the next index
  that loads, ``(i + 1) % n, (i + 2) % n, ...`` (``substitute=True``: training, so batch size and epoch length stay
  fixed and a resumed run replays exactly the same batches). The markers travel with the batch under
  :data:`BAD_FILES_KEY`, so the main process learns about failures inside DataLoader workers.
* :class:`SkipBadCollate` removes the markers from a batch, collates the rest and puts the markers under
  :data:`BAD_FILES_KEY` (``None`` when every item of the batch was bad); :func:`batches_without_bad_files` (or the
  re-iterable :class:`LoaderWithoutBadFiles`) records them in a :class:`BadFileLog` and yields only non-empty batches.
* :class:`BadFileLog` keeps each bad file once (by path), logs its path and reason (never patient
  identifiers), writes ``bad_files.csv`` + ``bad_files.json`` to the run's outputs and stops the run with
  :class:`TooManyBadFilesError` (naming the first bad file) once more than ``max_bad_fraction`` of the items are bad.
  ``max_bad_fraction=0`` means strict: the first bad file stops the run, with its name in the last line of the
  traceback.

:func:`raddino_monai.data.datalist.validate_datalist` ``(check_readable=True)`` is the opt-in pre-flight that reads
every file before anything starts.

Example:
    >>> from monai.data import DataLoader, Dataset
    >>> from raddino_monai.transforms import LoadCXRd
    >>> items = [{"image": "/nonexistent.png"}]
    >>> log = BadFileLog(total=1, max_bad_fraction=1.0)
    >>> loader = DataLoader(SkipBadFiles(Dataset(items, LoadCXRd("image"))), batch_size=1, collate_fn=SkipBadCollate())
    >>> list(batches_without_bad_files(loader, log)), log.count
    ([], 1)
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

from raddino_monai.transforms.errors import CXRLoadError

__all__ = [
    "BAD_FILES_KEY",
    "BadFile",
    "BadFileLog",
    "TooManyBadFilesError",
    "SkipBadFiles",
    "SkipBadCollate",
    "LoaderWithoutBadFiles",
    "batches_without_bad_files",
    "as_bad_file",
]

logger = logging.getLogger(__name__)

#: batch / item key holding the :class:`BadFile` markers met while producing it
BAD_FILES_KEY = "bad_files"


@dataclass(frozen=True)
class BadFile:
    """An item that was skipped because its file could not be loaded.

    Attributes:
        index: position of the item in the datalist (or dataset) it came from.
        path: the file that failed (from the loader error, else the item's image path).
        reason: the loader's description of the problem.
    """

    index: int
    path: str
    reason: str


class TooManyBadFilesError(CXRLoadError):
    """More than ``max_bad_fraction`` of the items could not be loaded; the message starts with the first bad file.

    Args:
        log: the log that overflowed.
    """

    def __init__(self, log: BadFileLog) -> None:
        self.log = log
        first = log.files[0]
        allowed = math.floor(log.max_bad_fraction * log.total + 1e-9)
        where = f"; all of them are listed in {log.path}" if log.path is not None else ""
        super().__init__(
            first.path,
            f"{first.reason}. {log.count} of {log.total} {log.what} could not be loaded ({100 * log.fraction:.1f} %), "
            f"more than max_bad_fraction={log.max_bad_fraction} allows ({allowed}){where}. Fix or remove them, or "
            "raise max_bad_fraction to skip and count them.",
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (CXRLoadError, (self.path, self.problem))


def _load_error_types() -> tuple[type[BaseException], ...]:
    return (CXRLoadError, FileNotFoundError)


def as_bad_file(err: BaseException, index: int, item: Any, image_key: str = "image") -> BadFile | None:
    """The :class:`BadFile` for a load error anywhere in ``err``'s cause chain, or ``None`` for other errors.

    Args:
        err: the exception raised while loading the item.
        index: the item's index.
        item: the item (its ``image_key`` entry names the file when the error does not).
        image_key: item key of the image path.
    """
    current: BaseException | None = err
    while current is not None:
        if isinstance(current, TooManyBadFilesError):
            return None  # a nested dataset already stopped: not one more bad file
        if isinstance(current, _load_error_types()):
            fallback = item.get(image_key, "") if isinstance(item, Mapping) else item
            path = getattr(current, "path", None) or getattr(current, "filename", None) or fallback
            reason = getattr(current, "problem", None) or getattr(current, "strerror", None) or str(current)
            return BadFile(index=int(index), path=str(path), reason=str(reason))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


def _check_fraction(value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"max_bad_fraction must lie in [0, 1] (0 = stop at the first bad file), found {value}.")
    return value


class BadFileLog:
    """Bad files of one run: each logged once, written to the run's outputs, and a stop rule.

    Args:
        total: number of items the fraction refers to (the datalist length).
        max_bad_fraction: largest share of bad items that is skipped and counted; one more stops the run with
            :class:`TooManyBadFilesError`. ``0``: the first bad file stops it.
        path: ``bad_files.csv`` to (re)write whenever a new bad file is recorded (a ``bad_files.json`` summary is
            written beside it); ``None``: only logged (:meth:`write` can still save it later).
        what: what the items are, for messages (``"images"``, ``"datalist items"``).

    Raises:
        ValueError: ``max_bad_fraction`` outside [0, 1] or ``total < 0``.
    """

    def __init__(self, total: int, max_bad_fraction: float = 0.0, path: str | os.PathLike[str] | None = None,
                 what: str = "images") -> None:
        if int(total) < 0:
            raise ValueError(f"total must be >= 0, found {total}.")
        self.total = int(total)
        self.max_bad_fraction = _check_fraction(max_bad_fraction)
        self.path = Path(path) if path is not None else None
        self.what = what
        self._files: dict[str, BadFile] = {}  # by path: one file is one bad file, whichever dataset met it

    @property
    def files(self) -> list[BadFile]:
        """The bad files in the order they were met."""
        return list(self._files.values())

    @property
    def indices(self) -> set[int]:
        """Item indices of the bad files (meaningful when one dataset fed the log)."""
        return {bad.index for bad in self._files.values()}

    @property
    def paths(self) -> set[str]:
        """Paths of the bad files."""
        return set(self._files)

    @property
    def count(self) -> int:
        """Number of distinct bad items."""
        return len(self._files)

    @property
    def fraction(self) -> float:
        """``count / total`` (0 when ``total`` is 0)."""
        return self.count / self.total if self.total else 0.0

    def exceeded(self) -> bool:
        """Whether more than ``max_bad_fraction`` of the items are bad."""
        return self.count > 0 and self.count > self.max_bad_fraction * self.total + 1e-9

    def check(self) -> None:
        """Raise :class:`TooManyBadFilesError` when :meth:`exceeded`."""
        if self.exceeded():
            raise TooManyBadFilesError(self)

    def record(self, bad_files: Iterable[BadFile] | None, check: bool = True) -> list[BadFile]:
        """Add bad files (already known paths are ignored), log and write the new ones, then :meth:`check`.

        Returns:
            the newly recorded files.

        Raises:
            TooManyBadFilesError: ``check`` and more than ``max_bad_fraction`` of the items are bad.
        """
        new = []
        for bad in bad_files or ():
            if bad.path not in self._files:
                self._files[bad.path] = bad
                new.append(bad)
                logger.warning("skipping unreadable file %s: %s (%d of %d %s bad so far)", bad.path, bad.reason,
                               self.count, self.total, self.what)
        if new and self.path is not None:
            self.write()
        if check:
            self.check()
        return new

    def summary(self) -> dict[str, Any]:
        """``{"total", "bad", "fraction", "max_bad_fraction", "files": [{"index", "path", "reason"}]}``."""
        return {"total": self.total, "bad": self.count, "fraction": self.fraction,
                "max_bad_fraction": self.max_bad_fraction, "files": [asdict(b) for b in self.files]}

    def write(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write ``bad_files.csv`` (``index,path,reason``) and its ``.json`` summary atomically; returns the CSV.

        Raises:
            ValueError: neither ``path`` nor the log's ``path`` is set.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("BadFileLog.write needs a path (none was given to the log).")
        target.parent.mkdir(parents=True, exist_ok=True)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=["index", "path", "reason"])
        writer.writeheader()
        writer.writerows(asdict(b) for b in self.files)
        _replace(target, text.getvalue())
        _replace(target.with_suffix(".json"), json.dumps(self.summary(), indent=2) + "\n")
        return target

    @staticmethod
    def read(path: str | os.PathLike[str]) -> list[BadFile]:
        """The bad files of a ``bad_files.csv`` written by :meth:`write` (``[]`` when there is none)."""
        try:
            with open(path, newline="", encoding="utf-8") as f:
                return [BadFile(int(r["index"]), r["path"], r["reason"]) for r in csv.DictReader(f)]
        except FileNotFoundError:
            return []


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class SkipBadFiles(Dataset):
    """Dataset wrapper that turns a per-item load failure into a :class:`BadFile` marker or a substitute item.

    Args:
        dataset: a map-style dataset (MONAI ``Dataset`` / ``CacheDataset`` ...). Its ``transform`` and ``data`` stay
            reachable (``SeededDataset`` re-seeds ``transform``); a ``bad_files`` list it already holds (a
            :class:`~raddino_monai.data.datasets.CXRCacheDataset` drops bad items while caching) is
            :attr:`dropped`.
        substitute: ``False``: a bad item is returned as its :class:`BadFile` marker (removed by
            :class:`SkipBadCollate`); ``True``: it is replaced by the next index that loads (cyclically), with the
            markers met on the way under :data:`BAD_FILES_KEY` of the returned dict item.
        image_key: item key of the image path (names the file when the error does not).

    Raises:
        TooManyBadFilesError: (``substitute=True``, on access) no item of the dataset loads.
    """

    def __init__(self, dataset: Any, substitute: bool = False, image_key: str = "image") -> None:
        self.dataset = dataset
        self.substitute = bool(substitute)
        self.image_key = image_key
        self._known_bad: dict[int, BadFile] = {}

    @property
    def transform(self) -> Any:
        """The wrapped dataset's transform (``None`` if it has none)."""
        return getattr(self.dataset, "transform", None)

    @property
    def data(self) -> Any:
        """The wrapped dataset's items (``None`` if it has none)."""
        return getattr(self.dataset, "data", None)

    @property
    def dropped(self) -> list[BadFile]:
        """Bad files the wrapped dataset left out before this wrapper saw it (e.g. while caching)."""
        return list(getattr(self.dataset, "bad_files", []) or [])

    @property
    def total(self) -> int:
        """Items of the datalist: this dataset's length plus :attr:`dropped`."""
        return len(self) + len(self.dropped)

    def __len__(self) -> int:
        return len(self.dataset)

    def _item(self, index: int) -> Any:
        data = self.data
        try:
            return data[index] if data is not None else None
        except (IndexError, KeyError, TypeError):
            return None

    def _load(self, index: int) -> tuple[Any, BadFile | None]:
        if index in self._known_bad:
            return None, self._known_bad[index]
        try:
            return self.dataset[index], None
        except Exception as err:  # noqa: BLE001 - re-raised below unless it is a load error
            bad = as_bad_file(err, index, self._item(index), self.image_key)
            if bad is None:
                raise
            self._known_bad[index] = bad
            return None, bad

    def __getitem__(self, index: int) -> Any:
        index = int(index)
        item, bad = self._load(index)
        if bad is None:
            return item
        if not self.substitute:
            return bad
        met = [bad]
        n = len(self)
        for step in range(1, n):
            item, bad = self._load((index + step) % n)
            if bad is None:
                return {**item, BAD_FILES_KEY: met} if isinstance(item, Mapping) else item
            met.append(bad)
        log = BadFileLog(total=n, max_bad_fraction=0.0)
        log.record(met, check=False)
        raise TooManyBadFilesError(log)


class SkipBadCollate:
    """Collate that removes :class:`BadFile` markers and reports them under :data:`BAD_FILES_KEY`.

    Args:
        collate_fn: collate of the remaining items (dicts); default torch's ``default_collate``.

    Returns (when called on a list of items):
        the collated dict of the good items with ``BAD_FILES_KEY`` -> list of markers, or ``{BAD_FILES_KEY: [...]}``
        alone when every item was bad.
    """

    def __init__(self, collate_fn: Callable[[list[Any]], Any] | None = None) -> None:
        self.collate_fn = collate_fn or default_collate

    def __call__(self, batch: Sequence[Any]) -> dict[str, Any]:
        bad = [b for b in batch if isinstance(b, BadFile)]
        good = [b for b in batch if not isinstance(b, BadFile)]
        for item in good:  # substitutes carry the markers met on the way
            if isinstance(item, dict) and BAD_FILES_KEY in item:
                bad.extend(item.pop(BAD_FILES_KEY))
        if not good:
            return {BAD_FILES_KEY: bad}
        collated = self.collate_fn(good)
        if not isinstance(collated, dict):
            raise TypeError(f"SkipBadCollate needs dict items, found {type(collated).__name__} after collating.")
        return {**collated, BAD_FILES_KEY: bad}


def batches_without_bad_files(loader: Iterable[Mapping[str, Any]], log: BadFileLog) -> Iterator[dict[str, Any]]:
    """Batches of ``loader`` (built with :class:`SkipBadCollate`) with their bad files recorded in ``log``; batches
    left empty are not yielded.

    Raises:
        TooManyBadFilesError: from :meth:`BadFileLog.record`.
    """
    for batch in loader:
        batch = dict(batch)
        log.record(batch.pop(BAD_FILES_KEY, None))
        if batch:
            yield batch


class LoaderWithoutBadFiles:
    """Re-iterable :func:`batches_without_bad_files` (e.g. an engine's data loader: one pass per epoch).

    It has no ``len`` (bad files make the number of batches unknown), so MONAI / ignite engines end an epoch when
    the loader is exhausted.

    Args:
        loader: a DataLoader over :class:`SkipBadFiles` with :class:`SkipBadCollate`.
        log: where bad files are counted.
    """

    def __init__(self, loader: Iterable[Mapping[str, Any]], log: BadFileLog) -> None:
        self.loader, self.log = loader, log

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return batches_without_bad_files(self.loader, self.log)

"""Per-image output names: unique, and traceable to their input. One rule for every writer of per-image files.

A name is a POSIX relative path without the image suffix, to which a writer appends its own ending
(``<name>_seg.png``, ``<name>_overlay.png``, ``<name>.png``...):

* with a datalist ``id``: the id itself (``"patient7/study2"`` gives sub-folders);
* otherwise the input's path relative to a base folder, image suffix removed: ``base/a/x.dcm`` -> ``a/x``.
  The base is the one given (e.g. the folder a tool was pointed at), else the deepest folder common to all inputs,
  so equal file names in different folders stay apart (``a/x``, ``b/x``) and a single input keeps its file name.

Only known image suffixes (:data:`raddino_monai.transforms.io.READERS`, e.g. ``.dcm``, ``.png``, ``.nii.gz``) are
removed, so DICOMs named by UID keep the whole UID: ``1.2.826.0.1.3680043.8.498.1.dcm`` ->
``1.2.826.0.1.3680043.8.498.1`` and an extension-less ``1.2.826.0.1.3680043.8.498.1`` stays as it is (a plain
``Path.stem`` or ``name.split(".")[0]`` would give ``1.2.826.0.1.3680043.8.498`` or ``1`` and overwrite files).
Two inputs that would get the same name (compared case-insensitively, as macOS and Windows file systems do) are an
error that names both, never a silent overwrite.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from raddino_monai.transforms.io import READERS

__all__ = ["OutputNameError", "OutputNameRegistry", "strip_image_suffix", "output_name", "output_names"]

_SUFFIXES = tuple(sorted(READERS, key=len, reverse=True))  # ".nii.gz" before ".gz"-less matches


class OutputNameError(ValueError):
    """Two inputs would be written to the same output name, or a name is not a safe relative path."""


def strip_image_suffix(name: str) -> str:
    """Remove one known image suffix (case-insensitive); other dots are part of the name.

    Example:
        >>> strip_image_suffix("1.2.826.0.1.3680043.8.498.1.dcm"), strip_image_suffix("scan.nii.gz")
        ('1.2.826.0.1.3680043.8.498.1', 'scan')
    """
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _checked(name: str, source: str) -> str:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not name or PurePosixPath(name).is_absolute() or not parts or ".." in parts:
        raise OutputNameError(f"output name {name!r} for {source} must be a non-empty relative path without '..'.")
    return PurePosixPath(*parts).as_posix()


def output_name(path: str | os.PathLike[str], base_dir: str | os.PathLike[str] | None = None,
                image_id: str | None = None) -> str:
    """The output name of one input (rules in the module docstring).

    Args:
        path: the input image file.
        base_dir: mirror the path relative to this folder; a path outside it keeps its file name only.
        image_id: a datalist id; used as the name when given.

    Returns:
        POSIX relative name without image suffix.

    Raises:
        OutputNameError: the id is absolute, empty or climbs out with ``..``.

    Example:
        >>> output_name("/data/cxr/a/1.2.826.0.1.3680043.8.498.1.dcm", base_dir="/data/cxr")
        'a/1.2.826.0.1.3680043.8.498.1'
    """
    if image_id is not None:
        return _checked(str(image_id), str(path))
    file = Path(os.path.abspath(path))
    rel = PurePosixPath(file.name)
    if base_dir is not None:
        try:
            rel = PurePosixPath(file.relative_to(Path(os.path.abspath(base_dir))).as_posix())
        except ValueError:  # outside base_dir
            pass
    return _checked(str(rel.with_name(strip_image_suffix(rel.name))), str(path))


class OutputNameRegistry:
    """Remembers which input each output name was given to, so one run never writes two inputs to one name.

    Example:
        >>> names = OutputNameRegistry()
        >>> names.claim("x", "a/x.png"), names.claim("x", "a/x.png"), names.claim("X", "b/x.dcm")
        (None, None, 'a/x.png')
    """

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}

    def claim(self, name: str, source: str) -> str | None:
        """Give ``name`` to ``source``; returns the other source already holding it (case-insensitive), else None."""
        owner = self._owner.setdefault(name.lower(), str(source))
        return None if owner == str(source) else owner

    def require(self, name: str, source: str) -> str:
        """:meth:`claim`, raising :class:`OutputNameError` on a collision; returns ``name``."""
        owner = self.claim(name, source)
        if owner is not None:
            raise OutputNameError(
                f"{source} and {owner} would both be written as {name!r}: rename one, give the datalist items an "
                "'id', or set the base folder so that their relative paths are kept."
            )
        return name


def output_names(
    paths: Sequence[str | os.PathLike[str]],
    base_dir: str | os.PathLike[str] | None = None,
    ids: Sequence[str | None] | None = None,
) -> list[str]:
    """Output names for a list of inputs, all checked for collisions before anything is written.

    Args:
        paths: input image files.
        base_dir: mirror paths relative to this folder; default the deepest folder common to all ``paths``.
        ids: optional datalist ids, one per path (``None`` entries fall back to the path rule).

    Returns:
        one name per path, in order.

    Raises:
        OutputNameError: two inputs get the same name (every collision is listed), an id is unsafe, or ``ids`` has
            the wrong length.

    Example:
        >>> output_names(["/d/a/x.png", "/d/b/x.png"])
        ['a/x', 'b/x']
    """
    if ids is not None and len(ids) != len(paths):
        raise OutputNameError(f"got {len(ids)} ids for {len(paths)} paths; expected one id per path.")
    if base_dir is None and paths:
        parents = [os.path.dirname(os.path.abspath(p)) for p in paths]
        base_dir = os.path.commonpath(parents) if len({Path(p).anchor for p in parents}) == 1 else None
    registry, names, problems = OutputNameRegistry(), [], []
    for n, path in enumerate(paths):
        name = output_name(path, base_dir, None if ids is None else ids[n])
        owner = registry.claim(name, str(path))
        if owner is not None:
            problems.append(f"{path} and {owner} -> {name!r}")
        names.append(name)
    if problems:
        raise OutputNameError(
            f"{len(problems)} output name collision(s); each would overwrite another input's files: "
            + "; ".join(problems) + ". Rename the files, give the datalist items an 'id', or set the base folder."
        )
    return names

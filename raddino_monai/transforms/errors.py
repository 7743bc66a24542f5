"""Loader errors: one exception type for every file that cannot be turned into a chest X-ray image."""

from __future__ import annotations

from os import PathLike

__all__ = ["CXRLoadError"]


class CXRLoadError(ValueError):
    """A file could not be loaded as a 2-D chest X-ray image.

    The message always starts with the file path and then states the problem (what was expected and what was
    found), e.g. ``"/data/a.dcm: DICOM has no Pixel Data element (7FE0,0010)"``. Messages never contain DICOM
    patient identifiers. The original low-level exception, if any, is chained as ``__cause__``.

    Args:
        path: the file that failed.
        problem: human-readable description of what is wrong.

    Example:
        >>> try:
        ...     raise CXRLoadError("a.png", "empty file (0 bytes)")
        ... except CXRLoadError as err:
        ...     print(err.path, "|", err.problem)
        a.png | empty file (0 bytes)
    """

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type[CXRLoadError], tuple[str, str]]:
        # keeps the exception picklable across DataLoader worker processes
        return (type(self), (self.path, self.problem))

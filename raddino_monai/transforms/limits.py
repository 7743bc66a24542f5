"""Header-bomb guards: the image size a file's header declares is checked before any pixel is decoded.

A few hundred bytes can declare a 30000 x 30000 float32 image; reading it naively allocates gigabytes before the
short read fails. Every reader of :class:`~raddino_monai.transforms.LoadCXR` therefore checks, from the header alone:

* the pixel count against a cap (:data:`DEFAULT_MAX_PIXELS`, configurable per loader), for every format;
* for uncompressed data (NIfTI ``.nii``, uncompressed DICOM transfer syntaxes), the bytes the header declares
  against the bytes the file has.

The default cap is Pillow's own decompression-bomb threshold ``PIL.Image.MAX_IMAGE_PIXELS`` (89,478,485 pixels,
e.g. 9459 x 9459), about 4.8 times the largest digital radiography detector (43 x 43 cm at 100 um, 4300 x 4300).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from os import PathLike

from raddino_monai.transforms.errors import CXRLoadError

__all__ = ["DEFAULT_MAX_PIXELS", "check_declared_size"]

#: = ``PIL.Image.MAX_IMAGE_PIXELS`` (Pillow's default decompression-bomb warning threshold), fixed here so that the
#: cap does not depend on a global another library may change.
DEFAULT_MAX_PIXELS: int = 89_478_485


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def check_declared_size(
    path: str | PathLike[str],
    shape: Sequence[int],
    max_pixels: int,
    what: str = "image",
    needed_bytes: int | None = None,
    file_bytes: int | None = None,
) -> None:
    """Refuse a file whose header declares more data than it holds or more pixels than ``max_pixels``.

    Args:
        path: the file (named in the error).
        shape: the declared array shape (all axes, e.g. ``(rows, cols)`` or ``(frames, rows, cols, samples)``).
        max_pixels: the cap on ``prod(shape)``.
        what: what the header describes, for the message (e.g. ``"NIfTI float32 image"``).
        needed_bytes: bytes the declared data needs (uncompressed formats only).
        file_bytes: bytes the file holds (compared with ``needed_bytes``).

    Raises:
        CXRLoadError: the declared data does not fit in the file, or the pixel count exceeds ``max_pixels``.

    Example:
        >>> check_declared_size("a.nii", (30000, 30000), DEFAULT_MAX_PIXELS, "NIfTI float32 image",
        ...                     needed_bytes=352 + 30000 * 30000 * 4, file_bytes=368)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        raddino_monai.transforms.errors.CXRLoadError: a.nii: header declares a 30000x30000 NIfTI float32 image ...
    """
    dims = "x".join(str(int(s)) for s in shape)
    pixels = math.prod(int(s) for s in shape)
    if needed_bytes is not None and file_bytes is not None and needed_bytes > file_bytes:
        raise CXRLoadError(
            path,
            f"header declares a {dims} {what} ({_human(int(needed_bytes))} of pixel data) but the file holds only "
            f"{_human(int(file_bytes))}; expected a complete file (it is truncated or its header is wrong)",
        )
    if pixels > int(max_pixels):
        raise CXRLoadError(
            path,
            f"header declares a {dims} {what} = {pixels:,} pixels, more than max_pixels={int(max_pixels):,}; "
            "expected a radiograph-sized image (raise LoadCXR(max_pixels=...) to read larger ones)",
        )

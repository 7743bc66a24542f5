"""python tools/prepare_images.py --src DIR --dst DIR [--size 518 --workers 2 --overwrite False --skip_failed False]

RAD-DINO model-card offline preparation ([CARD]): every DICOM / PNG / JPEG / NIfTI under ``--src`` is resized with
cubic B-spline interpolation so its shorter side is ``--size``, min-max scaled to [0, 255] and written as an 8-bit
PNG under ``--dst`` (same relative path). Resumable: valid existing outputs are skipped. Never writes DICOM
attributes. Writes the resolved settings and the report (written / skipped / failed inputs) to ``DST/config.json``.
Exits 1, after preparing every readable input, when some inputs failed, unless ``--skip_failed``. Thin wrapper over
:func:`raddino_monai.data.prepare.prepare_images`.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import fire

from raddino_monai.data.prepare import PreparationError, prepare_images


@functools.wraps(prepare_images)  # fire shows (and parses) the library's arguments and defaults
def main(*args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return prepare_images(*args, **kwargs)
    except PreparationError as err:
        print(err, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    fire.Fire(main)

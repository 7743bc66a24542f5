"""python tools/prepare_images.py --src DIR --dst DIR [--size 518 --workers 2 --overwrite False]

RAD-DINO model-card offline preparation ([CARD]): every DICOM / PNG / JPEG / NIfTI under ``--src`` is resized with
cubic B-spline interpolation so its shorter side is ``--size``, min-max scaled to [0, 255] and written as an 8-bit
PNG under ``--dst`` (same relative path). Resumable: valid existing outputs are skipped. Never writes DICOM
attributes. Thin wrapper over :func:`raddino_monai.data.prepare.prepare_images`.
"""

from __future__ import annotations

import fire

from raddino_monai.data.prepare import prepare_images

if __name__ == "__main__":
    fire.Fire(prepare_images)

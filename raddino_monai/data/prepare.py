"""Offline image preparation of the RAD-DINO model card: DICOM/PNG -> short side 518 -> min-max [0, 255] -> 8-bit PNG.

[CARD] "DICOMs were resized with B-spline interpolation so the shorter side is 518, min-max scaled to [0, 255], and
saved as PNG." We read with :class:`~raddino_monai.transforms.LoadCXR` (Modality LUT, BitsStored, MONOCHROME1 inverted
so 0 is black as displayed), resize with ``scipy.ndimage.zoom(order=3)`` (cubic B-spline, as the card; no
antialiasing, like the original), min-max scale to ``[0, 255]`` and write an 8-bit greyscale PNG. Only pixels are
written: no DICOM attribute (identifiers included) reaches the output.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from raddino_monai.transforms.errors import CXRLoadError
from raddino_monai.transforms.io import LoadCXR, cxr_reader_for
from raddino_monai.transforms.output_names import OutputNameRegistry, output_name

__all__ = ["CARD_SHORT_SIDE", "PreparationError", "prepare_image", "prepare_images", "list_source_images", "is_valid_prepared"]

#: shorter side of the prepared PNGs: "resized ... so the shorter side is 518" [CARD]
CARD_SHORT_SIDE = 518


class PreparationError(RuntimeError):
    """Some inputs could not be prepared (the others were); ``report`` is the :func:`prepare_images` result."""

    def __init__(self, report: dict[str, Any], config_path: Path) -> None:
        self.report = report
        failed = report["failed"]
        lines = "\n".join(f"  - {path}: {problem}" for path, problem in failed[:20])
        more = f"\n  ... and {len(failed) - 20} more" if len(failed) > 20 else ""
        super().__init__(
            f"prepare_images: {len(failed)} input(s) failed ({report['written']} written, {report['skipped']} "
            f"already done; full list in {config_path}):\n{lines}{more}\nPass skip_failed=True (CLI: --skip_failed) "
            "to accept them as skipped."
        )


def _resize_short_side(image: np.ndarray, size: int) -> np.ndarray:
    """Cubic B-spline zoom of ``(H, W)`` so that ``min(H, W) == size`` (long side rounded)."""
    from scipy.ndimage import zoom

    h, w = image.shape
    out_hw = (size, max(1, round(w * size / h))) if h <= w else (max(1, round(h * size / w)), size)
    factors = (out_hw[0] / h, out_hw[1] / w)
    return zoom(image.astype(np.float64), factors, order=3, mode="nearest", grid_mode=True)


def is_valid_prepared(path: str | PathLike[str], size: int) -> bool:
    """Whether ``path`` is a complete 8-bit grey PNG whose shorter side is ``size`` (used to resume).

    Args:
        path: candidate output PNG.
        size: expected shorter side.

    Returns:
        ``True`` if it exists, decodes fully and has the expected mode and size.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            return img.mode == "L" and min(img.size) == size
    except Exception:  # missing, truncated, not a PNG: prepare it again
        return False


def prepare_image(src: str | PathLike[str], dst: str | PathLike[str], size: int = CARD_SHORT_SIDE) -> Path:
    """Prepare one image the RAD-DINO way and write it as an 8-bit PNG (atomically: temp file, then rename).

    Args:
        src: DICOM / PNG / JPEG / NIfTI file.
        dst: output ``.png`` path (parent folders are created).
        size: shorter side of the output ([CARD] 518).

    Returns:
        ``Path(dst)``.

    Raises:
        CXRLoadError: ``src`` cannot be loaded (the message names the file).

    Example:
        >>> prepare_image("in/chest.dcm", "out/chest.png")  # doctest: +SKIP
    """
    from PIL import Image

    image = LoadCXR(min_size=2)(src)[0].numpy()
    resized = _resize_short_side(image, int(size))
    lo, hi = float(resized.min()), float(resized.max())
    scaled = (resized - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(resized)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), mode="L").save(tmp, format="PNG")
    tmp.replace(dst)
    return dst


def list_source_images(src: str | PathLike[str]) -> list[Path]:
    """All files under ``src`` (recursively) that :class:`LoadCXR` can read (by suffix or ``'DICM'`` preamble).

    Args:
        src: input folder.

    Returns:
        sorted list of file paths.
    """
    return sorted(p for p in Path(src).rglob("*") if p.is_file() and not p.name.startswith(".") and cxr_reader_for(p))


def _job(args: tuple[str, str, int]) -> tuple[str, str | None]:
    src, dst, size = args
    try:
        prepare_image(src, dst, size)
        return src, None
    except CXRLoadError as err:
        return src, err.problem


def prepare_images(
    src: str | PathLike[str],
    dst: str | PathLike[str],
    size: int = CARD_SHORT_SIDE,
    workers: int = 2,
    overwrite: bool = False,
    skip_failed: bool = False,
) -> dict[str, Any]:
    """Prepare every image under ``src`` into ``dst`` (same relative paths, ``.png`` suffix), in parallel.

    Output names follow :func:`raddino_monai.transforms.output_name` (path relative to ``src``, image suffix
    removed, so ``1.2.826....1.dcm`` -> ``1.2.826....1.png``). Existing valid outputs are skipped (resume). Unreadable
    inputs, and inputs whose output path another input already takes (``a.dcm`` and ``a.png`` both give ``a.png``;
    the first in sorted order is prepared), are counted and listed; every other input is still prepared, then
    :class:`PreparationError` is raised unless ``skip_failed``. The resolved settings and the report are written to
    ``dst/config.json``. Outputs hold pixels only, and the report holds paths and loader problems only: no DICOM
    attribute (patient identifiers included) is written or logged.

    Args:
        src: input folder (DICOM files with or without suffix, PNG, JPEG, NIfTI).
        dst: output folder.
        size: shorter side of the outputs ([CARD] 518).
        workers: worker processes (``<= 1`` runs in this process).
        overwrite: redo outputs that already exist.
        skip_failed: accept failed inputs (return normally) instead of raising after the run.

    Returns:
        ``{"written": int, "skipped": int, "failed": [(source path, problem), ...]}`` (``failed`` lists unreadable
        inputs, then output-name clashes).

    Raises:
        FileNotFoundError: ``src`` is not a folder.
        PreparationError: some inputs failed and ``skip_failed`` is False (raised after all others are done).

    Example:
        >>> prepare_images("dicoms/", "pngs/", workers=4)  # doctest: +SKIP
        {'written': 120, 'skipped': 0, 'failed': []}
    """
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"prepare_images: source folder {src} does not exist or is not a folder")
    jobs, skipped, clashes = [], 0, []
    names = OutputNameRegistry()
    for path in list_source_images(src):
        out = dst / f"{output_name(path, src)}.png"
        owner = names.claim(str(out.relative_to(dst)), str(path))
        if owner is not None:  # e.g. a.dcm and a.png: the first (sorted) source wins, the others are reported
            clashes.append((str(path), f"output {out} is already written from {owner}; rename one of them"))
            continue
        if not overwrite and is_valid_prepared(out, size):
            skipped += 1
        else:
            jobs.append((str(path), str(out), int(size)))
    results: list[tuple[str, str | None]] = []
    with tqdm(total=len(jobs), desc="prepare_images", unit="img") as bar:
        if workers <= 1:
            for job in jobs:
                results.append(_job(job))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(_job, jobs, chunksize=4):
                    results.append(result)
                    bar.update()
    failed = [(path, problem) for path, problem in results if problem is not None]
    report = {"written": len(results) - len(failed), "skipped": skipped, "failed": failed + clashes}
    dst.mkdir(parents=True, exist_ok=True)
    settings = {"src": str(src), "dst": str(dst), "size": int(size), "workers": int(workers),
                "overwrite": bool(overwrite), "skip_failed": bool(skip_failed)}
    config_path = dst / "config.json"
    config_path.write_text(json.dumps({**settings, "report": report}, indent=2) + "\n")
    if report["failed"] and not skip_failed:
        raise PreparationError(report, config_path)
    return report

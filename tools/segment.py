"""Segmentation heads (linear / ViTDet / UPerNet / ECAMP) on a frozen encoder: train, evaluate, predict ([PAPER] §4.3).

    python tools/segment.py train --encoder raddino_vitb14:/models/rad-dino --datalist data/lungs.json \
        --head upernet --output_dir results/seg
    python tools/segment.py train --encoder mae_vitb16:results/ecamp/encoder --datalist data/siim.json \
        --head ecamp --loss ecamp_mixed --mask_mode multilabel --image_size 224 --output_dir results/seg_ecamp
    python tools/segment.py evaluate --checkpoint results/seg/model.pt --datalist data/lungs.json \
        --output_dir results/seg_eval
    python tools/segment.py predict --checkpoint results/seg/model.pt --images "['a.png','b.png']" \
        --output_dir results/pred

``train`` writes ``model.pt`` (+ ``model.json``), per-image Dice, ``results.{csv,md}``, ``config.json`` and TensorBoard
logs (``--bundle_dir DIR``: also a ready-to-serve ``raddino_cxr_segmentation`` bundle); its flags are the fields of ``raddino_monai.evaluation.SegmentationConfig`` (which holds the defaults and their
sources). ``evaluate`` writes the same tables and ``segmentation_examples.png`` (input, ground truth, prediction and
errors for test images spread over the Dice ranking); ``predict`` writes mask PNGs, overlay PNGs (and NIfTI with
``--nifti``) named after each image's path relative to ``--base_dir`` (default: the images' common folder), e.g.
``a/1.2.826.0.1.3680043.8.498.1_seg.png``; two images that would get one name stop the run before anything is
written. Unreadable images or masks: ``--max_bad_fraction 0.05`` skips and counts up to 5 % of them (listed in
``bad_files.csv`` of the output folder); the default 0 stops at the first one with an error naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fire

from raddino_monai.evaluation.runners import (
    config_from_options,
    options_signature,
    segment_evaluate_job,
    segment_predict_job,
    segment_train_job,
)
from raddino_monai.evaluation.segmentation import SegmentationConfig
from raddino_monai.serving.bundle_export import check_new_bundle_dir, export_segmentation_bundle
from raddino_monai.visualize.runners import segmentation_figure_job


def train(
    encoder: str,
    datalist: str | None = None,
    output_dir: str = "results/segmentation",
    bundle_dir: str | None = None,
    **options: Any,
) -> str:
    """Train a head on the training split, evaluate it on the test split, print the Dice table; ``options`` are
    :class:`SegmentationConfig` fields (``--head``, ``--epochs``, ``--image_size`` (default: the backbone's) ...);
    ``bundle_dir`` (a new folder) also receives a servable segmentation bundle."""
    check_new_bundle_dir(bundle_dir)
    config = config_from_options(SegmentationConfig, options)
    result = segment_train_job(encoder, datalist, output_dir, config)
    if bundle_dir:
        export_segmentation_bundle(result["checkpoint"], bundle_dir)
    return result["files"]["markdown"].read_text()


train.__signature__ = options_signature(train, SegmentationConfig)  # type: ignore[attr-defined]


def evaluate(
    checkpoint: str, datalist: str | None = None, output_dir: str = "results/segmentation_eval", device: str = "cpu",
    split: str = "test", n_examples: int = 6, max_bad_fraction: float = 0.0,
) -> str:
    """Dice of a saved head on a datalist split; prints the table; ``segmentation_examples.png`` shows
    ``n_examples`` images spread over the Dice ranking (0: no figure); ``max_bad_fraction``: share of unreadable
    items skipped and listed in ``bad_files.csv`` (0: stop at the first, naming it)."""
    result = segment_evaluate_job(checkpoint, datalist, output_dir, device, split, max_bad_fraction)
    if n_examples > 0:
        segmentation_figure_job(checkpoint, datalist, Path(output_dir) / "segmentation_examples.png",
                                result["per_image"], device, split, n_examples)
    return result["files"]["markdown"].read_text()


def predict(
    checkpoint: str, images: Sequence[str], output_dir: str = "results/segmentation_pred", device: str = "cpu",
    nifti: bool = False, base_dir: str | None = None, max_bad_fraction: float = 0.0,
) -> list[dict[str, str]]:
    """Write predicted masks and overlays (PNG) for image files, named after their paths relative to ``base_dir``;
    returns the written paths; ``max_bad_fraction``: share of unreadable images skipped and listed in
    ``bad_files.csv`` (0: stop at the first, naming it)."""
    files = [images] if isinstance(images, str) else list(images)
    return segment_predict_job(checkpoint, files, output_dir, device, nifti, base_dir, max_bad_fraction)


if __name__ == "__main__":
    fire.Fire({"train": train, "evaluate": evaluate, "predict": predict})

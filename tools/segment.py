"""Segmentation heads (linear / ViTDet / UPerNet) on a frozen encoder: train, evaluate, predict ([PAPER] §4.3).

    python tools/segment.py train --encoder raddino_vitb14:/models/rad-dino --datalist data/lungs.json \
        --head upernet --output_dir results/seg
    python tools/segment.py evaluate --checkpoint results/seg/model.pt --datalist data/lungs.json \
        --output_dir results/seg_eval
    python tools/segment.py predict --checkpoint results/seg/model.pt --images "['a.png','b.png']" \
        --output_dir results/pred

``train`` writes ``model.pt`` (+ ``model.json``), per-image Dice, ``results.{csv,md}``, ``config.json`` and TensorBoard
logs; ``predict`` writes mask PNGs, overlay PNGs (and NIfTI with ``--nifti``) named after each image's path relative
to ``--base_dir`` (default: the images' common folder), e.g. ``a/1.2.826.0.1.3680043.8.498.1_seg.png``; two images
that would get one name stop the run before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence

import fire

from raddino_monai.evaluation.runners import segment_evaluate_run, segment_predict_run, segment_train_run
from raddino_monai.evaluation.segmentation import SegmentationConfig


def train(
    encoder: str,
    datalist: str | None = None,
    output_dir: str = "results/segmentation",
    head: str = "upernet",
    head_kwargs: dict | None = None,
    mask_mode: str = "multiclass",
    class_names: Sequence[str] | None = None,
    image_size: int = 518,
    fit: str = "resize",
    epochs: int = 100,
    batch_size: int = 80,
    lr: float = 5e-4,
    augment: bool = True,
    horizontal_flip: bool = True,
    seed: int = 0,
    device: str = "cpu",
    num_workers: int = 0,
) -> str:
    """Train a head on the training split, evaluate it on the test split, print the Dice table."""
    config = SegmentationConfig(
        head=head, head_kwargs=dict(head_kwargs or {}), mask_mode=mask_mode,
        class_names=list(class_names) if class_names else None, image_size=image_size, fit=fit, epochs=epochs,
        batch_size=batch_size, lr=lr, augment=augment, horizontal_flip=horizontal_flip, seed=seed, device=device,
        num_workers=num_workers,
    )
    return segment_train_run(encoder, datalist, output_dir, config)["files"]["markdown"].read_text()


def evaluate(
    checkpoint: str, datalist: str | None = None, output_dir: str = "results/segmentation_eval", device: str = "cpu",
    split: str = "test",
) -> str:
    """Dice of a saved head on a datalist split; prints the table."""
    return segment_evaluate_run(checkpoint, datalist, output_dir, device, split)["files"]["markdown"].read_text()


def predict(
    checkpoint: str, images: Sequence[str], output_dir: str = "results/segmentation_pred", device: str = "cpu",
    nifti: bool = False, base_dir: str | None = None,
) -> list[dict[str, str]]:
    """Write predicted masks and overlays (PNG) for image files, named after their paths relative to ``base_dir``;
    returns the written paths."""
    files = [images] if isinstance(images, str) else list(images)
    return segment_predict_run(checkpoint, files, output_dir, device, nifti, base_dir)


if __name__ == "__main__":
    fire.Fire({"train": train, "evaluate": evaluate, "predict": predict})

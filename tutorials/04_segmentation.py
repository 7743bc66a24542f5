"""Tutorial 04: lung segmentation heads (linear, ViTDet, UPerNet) on a frozen encoder, with PNG overlays.

    .venv/bin/python tutorials/04_segmentation.py OUTPUT_DIR
    .venv/bin/python tutorials/04_segmentation.py OUTPUT_DIR --encoder=raddino_vitb14:/models/rad-dino --image_size=518

With the default random-init ``tiny_vit_p14`` at 56 px this takes a few minutes on a CPU and only shows the mechanics.

Steps:
    1. ``load_splits``: the sample data's training / test sections; items with a lung mask (``masks/*.png``, 0/255)
       are used (binary multiclass: background + lung).
    2. For each head: ``build_segmentation_model`` (frozen backbone + head), ``train_segmentation`` (Adam, cosine,
       joint image+mask augmentation; flips allowed because the mask covers both lungs), ``evaluate_segmentation``
       (MONAI Dice per image, mean (std) over images).
    3. ``predict_segmentation`` with the last head: mask PNG + overlay PNG at the original image size.
"""

from __future__ import annotations

from pathlib import Path

import fire

from raddino_monai.evaluation import (
    SegmentationConfig,
    build_segmentation_model,
    evaluate_segmentation,
    predict_segmentation,
    train_segmentation,
)
from raddino_monai.evaluation.runners import load_encoder_backbone, load_splits
from raddino_monai.evaluation.tables import markdown_table, summary_records, write_results

#: small head widths for CPU runs (the library defaults are the mmseg / detectron2 widths)
SMALL_HEADS: dict[str, dict[str, int]] = {
    "linear": {},
    "vitdet": {"pyramid_channels": 64, "decoder_channels": 32},
    "upernet": {"neck_channels": 64, "channels": 32},
}


def main(output_dir: str, encoder: str = "tiny_vit_p14", image_size: int = 56, epochs: int = 5) -> str:
    """Train and evaluate the three heads, write results and PNGs into ``output_dir``; returns the Markdown table."""
    out = Path(output_dir)
    train, test = load_splits(None)
    records = []
    for head, kwargs in SMALL_HEADS.items():
        config = SegmentationConfig(head=head, head_kwargs=kwargs, class_names=["background", "lung"],
                                    image_size=image_size, epochs=epochs, batch_size=16)
        model = build_segmentation_model(load_encoder_backbone(encoder), config)
        train_segmentation(model, train, config)
        result = evaluate_segmentation(model, test, config)
        records += summary_records(encoder, "lung segmentation", {head: result["summary"]}, len(result["per_image"]),
                                   ["dice/lung"])
    images = [str(it["image"]) for it in test if it.get("mask")][:4]
    predict_segmentation(model, images, config, out / "predictions")
    write_results(records, out, {"encoder": encoder, "image_size": image_size, "epochs": epochs})
    return markdown_table(records)


if __name__ == "__main__":
    fire.Fire(main)

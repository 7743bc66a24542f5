"""Tutorial 07: look at an encoder and at its pretraining run — every figure of ``raddino_monai.visualize``.

    .venv/bin/python tutorials/07_visualize.py OUTPUT_DIR
    .venv/bin/python tutorials/07_visualize.py OUTPUT_DIR --ssl_epochs=12      # the figures of the README

On the embedded sample data (100 CC BY chest X-rays) with the CPU smoke recipe of the pretraining bundle: a tiny ViT
(``tiny_vit_p16``) is pretrained for ``ssl_epochs`` epochs, then its teacher is compared with the same architecture
at random init. With one epoch this takes about a minute on a CPU and only shows the mechanics; for a real encoder
use ``tools/visualize.py`` with ``--encoder raddino_vitb14:/models/rad-dino``.

Steps (each writes one PNG into OUTPUT_DIR and prints its path):
    1. ``run_report.png``: the bundle run (``train.json`` + ``cpu_smoke.json``) and ``plot_run`` over its
       TensorBoard logs: every loss term, the schedules, teacher entropy against ln K, KoLeo, images/s.
    2. ``pca.png``: DINOv2-style PCA maps of the teacher's patch features, one PCA across four images.
    3. ``attention.png``: last-block CLS attention per head, and DINO's maps of the top 60 % attention mass.
    4. ``patch_similarity.png``: the patches of one image most similar to a query patch of another.
    5. ``embedding_map_pca.png`` / ``embedding_map_tsne.png``: CLS embeddings of the whole datalist coloured by view
       group, sex, age and finding; teacher and random init side by side, with the k-NN agreement of each key.
    6. ``neighbours_teacher_hf.png``: four queries and their nearest images (same patient excluded), same-view-group
       precision@k over all images.
    7. ``segmentation_examples.png``: a linear lung-segmentation head on the frozen teacher; input, ground truth,
       prediction and errors with per-image Dice.
"""

from __future__ import annotations

from pathlib import Path

import fire
from monai.bundle import ConfigWorkflow

from raddino_monai.data.sample_data import sample_data_dir, sample_datalist_path
from raddino_monai.evaluation import SegmentationConfig, build_segmentation_model, segmentation_examples
from raddino_monai.evaluation import evaluate_segmentation, train_segmentation
from raddino_monai.evaluation.runners import load_encoder_backbone, load_splits
from raddino_monai.visualize import runners
from raddino_monai.visualize.run_report import plot_run
from raddino_monai.visualize.segmentation import save_segmentation_figure, spread_by_rank

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "raddino"
#: four sample images: two PA, two AP supine (different exposures and devices)
PCA_IMAGES = ("00cfd1c1.png", "2c35005f.png", "00870a9c.png", "08d780ae.png")


def pretrain(output_dir: Path, epochs: int, **overrides: int) -> Path:
    """Run the pretraining bundle with its CPU smoke overlay; returns the run folder (TensorBoard, teacher_hf).

    The same as ``python -m monai.bundle run --config_file "['bundles/raddino/configs/train.json',
    'bundles/raddino/configs/cpu_smoke.json']" --output_dir OUTPUT_DIR/ssl_run --max_epochs EPOCHS``.
    """
    configs = [str(BUNDLE / "configs" / name) for name in ("train.json", "cpu_smoke.json")]
    workflow = ConfigWorkflow(config_file=configs, meta_file=str(BUNDLE / "configs" / "metadata.json"),
                              logging_file=False, workflow_type="train", bundle_root=str(BUNDLE),
                              output_dir=str(output_dir), max_epochs=epochs, **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    return output_dir


def segmentation_figure(encoder: str, out: Path, image_size: int, epochs: int) -> Path:
    """Train a linear lung head on the frozen encoder, draw test images spread over the Dice ranking."""
    train, test = load_splits(None)
    config = SegmentationConfig(head="linear", class_names=["background", "lung"], image_size=image_size,
                                epochs=epochs, batch_size=16, augment=False)  # no augmentation: CPU-quick
    model = build_segmentation_model(load_encoder_backbone(encoder), config)
    train_segmentation(model, train, config)
    per_image = evaluate_segmentation(model, test, config)["per_image"]
    chosen = {per_image[i]["image"] for i in spread_by_rank([r["dice"] for r in per_image], 4)}
    examples = sorted(segmentation_examples(model, [it for it in test if str(it["image"]) in chosen], config),
                      key=lambda e: float(e["dice"].mean()))
    return save_segmentation_figure(examples, config.scored_names, out / "segmentation_examples.png",
                                    f"linear head on the frozen {encoder.split(':')[0]} teacher")


def main(output_dir: str, ssl_epochs: int = 1, global_size: int | None = None, local_size: int | None = None,
         image_size: int = 224, map_size: int = 112, seg_size: int = 56, seg_epochs: int = 3) -> list[str]:
    """Write the figures into ``output_dir``; returns their paths.

    Args:
        output_dir: output folder.
        ssl_epochs: pretraining epochs (9 iterations each on the sample data).
        global_size: global crop side of pretraining; default ``cpu_smoke.json``'s.
        local_size: local crop side of pretraining; default ``cpu_smoke.json``'s.
        image_size: input side of the PCA, attention and correspondence figures.
        map_size: input side for the CLS embeddings of the datalist.
        seg_size: input side of the segmentation head.
        seg_epochs: epochs of the segmentation head.
    """
    out = Path(output_dir)
    sizes = {"global_size": global_size, "local_size": local_size}
    run = pretrain(out / "ssl_run", ssl_epochs, **{k: v for k, v in sizes.items() if v is not None})
    written = [plot_run(run, out / "run_report.png")]
    teacher, random_init = f"tiny_vit_p16:{run / 'teacher_hf'}", "tiny_vit_p16"
    images = [str(sample_data_dir() / "images" / name) for name in PCA_IMAGES]
    written.append(runners.pca_job(images, out / "pca.png", teacher, image_size))
    written.append(runners.attention_job(images[0], out / "attention.png", teacher, image_size))
    written.append(runners.correspondence_job(images[0], images[1], out / "patch_similarity.png", teacher,
                                              image_size=image_size))
    datalist = sample_datalist_path()
    keys = ["view_group", "sex", "age", "finding"]  # view_group: PA / AP (incl. supine)
    written += runners.embedding_map_job(datalist, out, [teacher, random_init], keys=keys,
                                         image_size=map_size).values()
    written += runners.neighbours_job(datalist, out, embeddings=[str(out / "embeddings" / "teacher_hf.npz")],
                                      label_key="view_group", k=5).values()
    written.append(segmentation_figure(teacher, out, seg_size, seg_epochs))
    return [str(p) for p in written]


if __name__ == "__main__":
    fire.Fire(main)

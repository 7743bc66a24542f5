"""Tutorial 03: linear probing a frozen encoder and metadata probes on the embedded sample data.

    .venv/bin/python tutorials/03_linear_probe.py OUTPUT_DIR
    .venv/bin/python tutorials/03_linear_probe.py OUTPUT_DIR --encoder=raddino_vitb14:/models/rad-dino --image_size=518

With the default random-init ``tiny_vit_p14`` this runs in about a minute on a CPU and only shows the mechanics
(scores near chance); pass a real RAD-DINO checkpoint for meaningful numbers.

Steps:
    1. ``load_splits``: the sample datalist's patient-disjoint training / test sections (3 findings, multi-class).
    2. ``FrozenEncoder``: the backbone frozen, CLS (+ mean patch) pooling.
    3. ``evaluate_linear_probe`` with ``augment=False``: features are extracted once and a linear layer is trained on
       the cached embeddings for every label fraction × seed (the paper uses augmentation; the fast path is for
       exploration). AUPRC (primary), AUROC and accuracy come from scikit-learn.
    4. ``embed_images`` (the package's one extraction path) and ``evaluate_metadata_probe``: logistic regression on the
       embeddings, 5-fold CV grouped by patient, for sex.
    5. ``write_results``: ``results.csv`` + ``results.md`` (mean ± std), and ``auprc_by_fraction.png``.
"""

from __future__ import annotations

from pathlib import Path

import fire
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from raddino_monai.evaluation import (  # noqa: E402
    FrozenEncoder,
    LinearProbeConfig,
    MetadataProbeConfig,
    evaluate_linear_probe,
    evaluate_metadata_probe,
)
from raddino_monai.evaluation.runners import load_encoder_backbone, load_splits  # noqa: E402
from raddino_monai.evaluation.tables import markdown_table, summary_records, write_results  # noqa: E402
from raddino_monai.inference import embed_images  # noqa: E402


def main(output_dir: str, encoder: str = "tiny_vit_p14", image_size: int = 56, epochs: int = 20) -> str:
    """Run the probes and write the tables and the PNG into ``output_dir``; returns the Markdown table."""
    out = Path(output_dir)
    train, test = load_splits(None)
    enc = FrozenEncoder(load_encoder_backbone(encoder), pooling="cls_patchmean")
    config = LinearProbeConfig(task="multiclass", image_size=image_size, epochs=epochs, batch_size=32, augment=False,
                               seeds=(0, 1, 2), label_fractions=(0.1, 0.5, 1.0))
    result = evaluate_linear_probe(enc, train, test, config)
    records = summary_records(encoder, "findings", result["summary"], len(config.seeds), ["auprc", "auroc"])
    paths = [str(it["image"]) for it in train + test]
    feats = embed_images(enc.backbone, paths, pooling=[enc.pooling], image_size=image_size)[enc.pooling]
    meta = evaluate_metadata_probe(feats, train + test, MetadataProbeConfig(attributes=("sex",)))
    records += summary_records(encoder, "metadata", {"sex": {"accuracy": (meta[0]["mean"], meta[0]["std"])}}, 5)
    write_results(records, out, {"encoder": encoder, **config.to_dict()})
    fractions = list(result["summary"])
    means = [result["summary"][f]["auprc"][0] for f in fractions]
    stds = [result["summary"][f]["auprc"][1] for f in fractions]
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.errorbar([100 * f for f in fractions], means, yerr=stds, marker="o", capsize=3)
    ax.set(xscale="log", xlabel="training labels (%)", ylabel="macro AUPRC", title=f"linear probe: {encoder}")
    fig.tight_layout()
    fig.savefig(out / "auprc_by_fraction.png", dpi=120)
    return markdown_table(records)


if __name__ == "__main__":
    fire.Fire(main)

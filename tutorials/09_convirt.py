"""Tutorial 09: ConVIRT image-text contrastive pretraining on the same engine, then the exported encoder in the tools.

    .venv/bin/python tutorials/09_convirt.py OUTPUT_DIR
    .venv/bin/python tutorials/09_convirt.py OUTPUT_DIR --iterations=36 --text_encoder=/models/Bio_ClinicalBERT

Runs offline on the embedded sample radiographs with the ``tiny`` recipe (tiny ViT, 64 px crops, batch 4). The sample
carries no report text (its source's notes are CC BY-NC-SA), so every image gets three sentences built from its
metadata ("Chest radiograph, PA view. Patient sex: male. Finding: COVID-19.", ``data/sample_reports.py``) and, without
``--text_encoder``, a random-init BERT is built from those texts: the point is the mechanics, not the features.
Writes into ``OUTPUT_DIR``: ``run/`` (``convirt_config.json``, checkpoints, TensorBoard, ``image_encoder_hf/``),
``embeddings.npz`` and ``convirt.png`` (loss and in-batch accuracy per iteration; image-to-image Precision@k of
the exported encoder vs the same architecture at random init).

Steps:
    1. ``ConVIRTConfig.from_recipe("tiny")``: every default of the paper recipe lives in this dataclass (τ 0.1,
       λ 0.75, Adam 1e-4, weight decay 1e-6, batch 32, 224 px, first 6 text layers frozen); ``tiny`` shrinks it.
    2. ``convirt_pretrain_job``: one random sentence per item and draw (seeded: resumes repeat it), the paper's five
       augmentations, bidirectional InfoNCE on ``PretrainTrainer`` with the project's handlers; returns the image
       encoder exported as a ``Dinov2Model`` folder.
    3. That folder in the evaluation library as any encoder: ``extract_embeddings`` and image-to-image retrieval
       (hit = same finding) with Precision@k, next to a random-init baseline.
    4. The run itself (both towers, rebuilt from its last checkpoint by ``load_convirt_run``): text -> image and
       image -> text retrieval with the projected embeddings (``convirt_retrieval_job``, what
       ``tools/retrieval.py --convirt_run`` runs), each test image's metadata sentences as its report.
"""

from __future__ import annotations

import json
from pathlib import Path

import fire
import numpy as np
import torch

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.data.sample_reports import with_metadata_reports
from raddino_monai.evaluation.retrieval_run import RetrievalConfig
from raddino_monai.evaluation.retrieval import cosine_similarity, precision_at_k, relevance_matrix
from raddino_monai.experiments.convirt_embedders import convirt_retrieval_job
from raddino_monai.experiments.convirt_pretrain import convirt_pretrain_job
from raddino_monai.inference import extract_embeddings, load_embeddings
from raddino_monai.models import create_backbone, export_hf_folder
from raddino_monai.ssl.convirt import ConVIRTConfig
from raddino_monai.visualize.figure import agg_pyplot


def _scalars(tb_dir: Path, tag: str) -> tuple[list[int], list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tb_dir)).Reload().Scalars(tag)
    return [e.step for e in events], [e.value for e in events]


def _image_retrieval(hf_dir: Path, items: list[dict], out_file: Path, ks: tuple[int, ...]) -> dict[int, float]:
    """Mean Precision@k of image->image retrieval among ``items`` (each image queries all others)."""
    paths = [str(i["image"]) for i in items]
    emb = load_embeddings(extract_embeddings(paths, out_file, weights=hf_dir, arch="tiny_vit_p16", image_size=64,
                                             pooling=("cls",), progress=False, resume=False))["cls"]
    labels = [i["finding"] for i in items]
    exclude = np.eye(len(items), dtype=bool)  # a query never retrieves itself
    scores = precision_at_k(cosine_similarity(emb, emb), relevance_matrix(labels, labels), ks, exclude)
    return {k: float(v.mean()) for k, v in scores.items()}


def main(output_dir: str, iterations: int = 12, text_encoder: str = "", seed: int = 0) -> str:
    """Pretrain, evaluate, draw; returns the PNG path (fire prints it)."""
    out = Path(output_dir)
    config = ConVIRTConfig.from_recipe("tiny", model={"text_encoder": text_encoder})
    print(f"1. recipe tiny: tau={config.temperature}, lambda={config.image_to_text_weight}, lr={config.lr}, "
          f"batch={config.batch_size_per_gpu}, crops {config.augment.size} px, "
          f"{config.model.n_frozen_layers} frozen text layer(s)")
    hf_dir = convirt_pretrain_job(config, load_sample_datalist("training"), out / "run", max_epochs=10,
                                  max_iters=iterations, log_interval=1, seed=seed, synthesize_reports=True)
    print(f"2. exported image encoder: {hf_dir} ({', '.join(sorted(p.name for p in hf_dir.iterdir()))})")

    items = load_sample_datalist("test")
    ks = (1, 3, 5)
    trained = _image_retrieval(hf_dir, items, out / "embeddings.npz", ks)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random_dir = export_hf_folder(create_backbone("tiny_vit_p16"), out / "random_init_hf")
    baseline = _image_retrieval(random_dir, items, out / "random_embeddings.npz", ks)
    print("3. image->image Precision@k (hit = same finding; the baseline is ConVIRT's own initialisation), "
          + ", ".join(f"@{k}: ConVIRT {trained[k]:.3f} vs random {baseline[k]:.3f}" for k in ks))

    datalist = out / "test_reports.json"
    datalist.write_text(json.dumps({"test": with_metadata_reports(items)}))
    text = convirt_retrieval_job(out / "run", out / "text_retrieval", RetrievalConfig(ks=ks), datalist=datalist)
    print("4. projected embeddings of the run, Precision@k: " + "; ".join(
        f"{d}: " + ", ".join(f"@{k} {v:.3f}" for k, v in r["precision"].items()) for d, r in text["results"].items()))

    plt = agg_pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, tag, title in ((axes[0], "loss/loss", "ConVIRT loss"),
                           (axes[1], "monitor/accuracy_image_to_text", "in-batch image->text accuracy")):
        steps, values = _scalars(out / "run" / "tensorboard", tag)
        ax.plot(steps, values, marker="o")
        ax.set(title=title, xlabel="iteration")
    x = np.arange(len(ks))
    axes[2].bar(x - 0.2, [trained[k] for k in ks], 0.4, label="ConVIRT (exported)")
    axes[2].bar(x + 0.2, [baseline[k] for k in ks], 0.4, label="random init")
    axes[2].set(xticks=x, xticklabels=[f"P@{k}" for k in ks], title="image->image retrieval, test split")
    axes[2].legend()
    fig.tight_layout()
    png = out / "convirt.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return str(png)


if __name__ == "__main__":
    fire.Fire(main)

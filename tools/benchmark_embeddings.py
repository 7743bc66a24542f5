"""python tools/benchmark_embeddings.py [--arch raddino_vitb14] [--n_images 16] [--batch_size 8] [--repeats 3] [--bf16]

Throughput of our batched extraction (``extract_embeddings``: LoadCXRd + raddino_preprocessing + batched backbone,
shards, output file) against the microsoft/rad-dino model-card path (``AutoImageProcessor`` (PIL backend) +
``AutoModel``, one image at a time), on the same CPU, in one run, on the same images (the embedded sample data
unless ``--image_dir`` is given). Prints images/s for both (median of ``repeats``), the ratio ours / card and the
largest CLS difference between the two paths. The model is random-init (no download); pass ``--weights`` for a local
checkpoint. Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import fire
import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

from raddino_monai.data.sample import sample_data_dir
from raddino_monai.inference import extract_embeddings, load_embeddings
from raddino_monai.models import create_backbone, export_hf_folder


def _card_path(folder: Path, paths: list[str]) -> np.ndarray:
    """Model-card usage [CARD]: processor + model per image; CLS = last_hidden_state[:, 0]."""
    processor = AutoImageProcessor.from_pretrained(str(folder), backend="pil")
    model = AutoModel.from_pretrained(str(folder)).eval()
    out = []
    with torch.inference_mode():
        for path in paths:
            inputs = processor(images=Image.open(path), return_tensors="pt")
            out.append(model(**inputs).last_hidden_state[:, 0].float().numpy()[0])
    return np.stack(out)


def benchmark(
    arch: str = "raddino_vitb14",
    weights: str | None = None,
    n_images: int = 16,
    batch_size: int = 8,
    repeats: int = 3,
    bf16: bool = False,
    image_dir: str | None = None,
    num_workers: int = 0,
    threads: int | None = None,
) -> dict[str, float]:
    """Run the comparison and print a summary.

    Args:
        arch: registered architecture (random init unless ``weights``).
        weights: optional local weights (HF folder or DINOv2 checkpoint).
        n_images: images per repeat (cycled if the folder has fewer).
        batch_size: our batch size.
        repeats: timed repeats of each path (after one warm-up image each).
        bf16: bfloat16 autocast on our path (the card path stays float32).
        image_dir: folder of PNG/JPEG images; default: the embedded sample images.
        num_workers: DataLoader workers on our path.
        threads: ``torch.set_num_threads`` value; default: torch's.

    Returns:
        ``{"ours_img_s", "card_img_s", "ratio", "max_cls_diff"}``.
    """
    if threads:
        torch.set_num_threads(int(threads))
    folder_in = Path(image_dir) if image_dir else sample_data_dir() / "images"
    available = sorted(str(p) for p in folder_in.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    paths = [available[i % len(available)] for i in range(n_images)]
    unique = list(dict.fromkeys(paths))
    backbone = create_backbone(arch, weights=weights).eval()
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_hf_folder(backbone, Path(tmp) / "hf")
        _card_path(folder, paths[:1])  # warm-up
        extract_embeddings(
            paths[:1], Path(tmp) / "warm.npz", backbone=backbone, bf16=bf16, resume=False, progress=False
        )
        ours_rates, card_rates = [], []
        for r in range(repeats):
            start = time.perf_counter()
            card = _card_path(folder, paths)
            card_rates.append(len(paths) / (time.perf_counter() - start))
            start = time.perf_counter()
            out = extract_embeddings(
                unique, Path(tmp) / f"ours{r}.npz", backbone=backbone, batch_size=batch_size, bf16=bf16,
                num_workers=num_workers, resume=False, progress=False,
            )
            ours_rates.append(len(unique) / (time.perf_counter() - start))
        ours = load_embeddings(out)["cls"]
    card_by_path = dict(zip(paths, card))
    max_diff = float(np.abs(ours - np.stack([card_by_path[p] for p in unique])).max())
    result = {
        "ours_img_s": statistics.median(ours_rates),
        "card_img_s": statistics.median(card_rates),
        "max_cls_diff": max_diff,
    }
    result["ratio"] = result["ours_img_s"] / result["card_img_s"]
    print(f"arch={arch} images={len(paths)} (unique {len(unique)}) batch={batch_size} bf16={bf16} "
          f"threads={torch.get_num_threads()} repeats={repeats}")
    print(f"model card (processor + AutoModel, 1 image/call): {result['card_img_s']:.2f} img/s (median)")
    print(f"raddino_monai extract_embeddings (batched):       {result['ours_img_s']:.2f} img/s (median)")
    print(f"ratio ours / card: {result['ratio']:.2f}x   max |CLS difference|: {max_diff:.3g} "
          f"(float vs uint8 PIL preprocessing{', bf16' if bf16 else ''})")
    return result


if __name__ == "__main__":
    fire.Fire(benchmark)

"""python tools/benchmark_embeddings.py [--arch raddino_vitb14] [--n_images 8] [--batch_size 8] [--repeats 3]

Throughput of our batched extraction (``extract_embeddings``: LoadCXRd + raddino_preprocessing with a preprocessed-image
cache + batched backbone, fp32 and bf16 autocast, shards and output file included) against the microsoft/rad-dino
model-card path (``AutoImageProcessor`` (PIL backend) + ``AutoModel``, one image per call, model loaded once, outside
the timing), on the same CPU, in one run, on the same images (the embedded sample data unless ``--image_dir``).

Prints images/s for every path (median of ``repeats``; the card and our paths alternate inside each repeat so machine
load hits them alike), the ratios ours / card, and how the outputs compare:

* ``same-pixels``: the card's preprocessed tensors through our backbone, batched, vs the card's per-image CLS (the
  models are the same: float rounding only);
* ``end-to-end``: our file vs the card's CLS (our default ``"pil"`` preprocessing is the card's processor bit for
  bit, so float rounding only; ``--resize_backend torch`` times the float resize, which differs, see
  :mod:`raddino_monai.inference.embeddings`), as max |difference| and min cosine similarity.

The model is random-init (no download); pass ``--weights`` for a local checkpoint. Not a test: numbers depend on the
machine and its load.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import fire
import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

from raddino_monai.benchmarks.flops import count_flops
from raddino_monai.benchmarks.timing import gemm_flops_per_s
from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.inference import extract_embeddings, load_embeddings
from raddino_monai.models import RadDinoBackbone, create_backbone, export_hf_folder
from raddino_monai.transforms import RADDINO_PREPROCESS

#: variant of our path -> (bf16 autocast, ``torch.compile`` of the transformers model): the levers timed side by side
PRECISIONS = {"fp32": (False, False), "bf16": (True, False), "fp32_compile": (False, True), "bf16_compile": (True, True)}


class _CardPath:
    """Model-card usage [CARD]: ``AutoImageProcessor`` + ``AutoModel``; CLS = ``last_hidden_state[:, 0]``."""

    def __init__(self, folder: Path) -> None:
        self.processor = AutoImageProcessor.from_pretrained(str(folder), backend="pil")  # = use_fast=False (4.x)
        self.model = AutoModel.from_pretrained(str(folder)).eval()

    def pixels(self, path: str) -> torch.Tensor:
        return self.processor(images=Image.open(path), return_tensors="pt")["pixel_values"]

    def __call__(self, paths: Sequence[str]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for path in paths:
                out.append(self.model(pixel_values=self.pixels(path)).last_hidden_state[0, 0].float().numpy())
        return np.stack(out)


def _compiled(backbone: RadDinoBackbone) -> RadDinoBackbone:
    """A copy of ``backbone`` whose transformers model is ``torch.compile``-d in place (same parameter names)."""
    compiled = copy.deepcopy(backbone)
    compiled.model.compile()
    return compiled


def _cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    num = (a * b).sum(1)
    return float((num / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


def _same_pixels_diff(backbone: RadDinoBackbone, card: _CardPath, paths: Sequence[str], card_cls: np.ndarray) -> float:
    """Max |CLS difference| of our batched backbone vs the card model on the card's own pixel tensors."""
    pixels = torch.cat([card.pixels(p) for p in paths])
    with torch.inference_mode():
        ours = backbone.forward_features(pixels)["cls_token"].float().numpy()
    return float(np.abs(ours - card_cls).max())


def benchmark(
    arch: str = "raddino_vitb14",
    weights: str | None = None,
    n_images: int = 8,
    batch_size: int = 8,
    repeats: int = 3,
    precisions: Sequence[str] = ("fp32", "bf16"),
    image_dir: str | None = None,
    num_workers: int = 0,
    threads: int | None = None,
    n_check: int = 2,
    resize_backend: str = RADDINO_PREPROCESS.resize_backend,
) -> dict[str, float]:
    """Run the comparison and print a summary.

    Args:
        arch: registered architecture (random init unless ``weights``).
        weights: optional local weights (HF folder or DINOv2 checkpoint).
        n_images: distinct images per repeat (the folder's first ``n_images``).
        batch_size: our batch size.
        repeats: timed repeats of each path (after a one-batch warm-up of each, which also compiles).
        precisions: our variants to time, from :data:`PRECISIONS` (the card path is float32, as in the card);
            ``*_compile`` runs ``torch.compile`` (inductor) on a copy of the backbone, compiled during the warm-up.
        image_dir: folder of PNG/JPEG images; default: the embedded sample images.
        num_workers: DataLoader workers on our path.
        threads: ``torch.set_num_threads`` value; default: torch's.
        n_check: images for the same-pixels exactness check.
        resize_backend: our preprocessing backend, ``"pil"`` or ``"torch"``.

    Returns:
        ``{"card_img_s", "<precision>_img_s", "<precision>_ratio", "<precision>_max_cls_diff",
        "<precision>_min_cos", "same_pixels_max_cls_diff"}``.

    Raises:
        ValueError: unknown precision (valid values listed) or fewer images than ``n_images``.
    """
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        raise ValueError(f"precisions must be a non-empty subset of {list(PRECISIONS)}, got {list(precisions)}.")
    if threads:
        torch.set_num_threads(int(threads))
    folder_in = Path(image_dir) if image_dir else sample_data_dir() / "images"
    available = sorted(str(p) for p in folder_in.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if len(available) < n_images:
        raise ValueError(f"{folder_in} has {len(available)} PNG/JPEG images; n_images={n_images} requested.")
    paths = available[:n_images]
    backbone = create_backbone(arch, weights=weights).eval()
    models = {p: _compiled(backbone) if PRECISIONS[p][1] else backbone for p in precisions}
    rates: dict[str, list[float]] = {"card": [], **{p: [] for p in precisions}}
    outputs: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        card = _CardPath(export_hf_folder(backbone, Path(tmp) / "hf"))
        card(paths[:1])  # warm-up
        for precision in precisions:
            extract_embeddings(paths[:batch_size], Path(tmp) / "warm.npz", backbone=models[precision],
                               batch_size=batch_size, bf16=PRECISIONS[precision][0], resume=False, progress=False,
                               resize_backend=resize_backend)
        for r in range(repeats):
            start = time.perf_counter()
            card_cls = card(paths)
            rates["card"].append(len(paths) / (time.perf_counter() - start))
            for precision in precisions:
                out = Path(tmp) / f"{precision}{r}.npz"
                start = time.perf_counter()
                extract_embeddings(paths, out, backbone=models[precision], batch_size=batch_size,
                                   bf16=PRECISIONS[precision][0],
                                   num_workers=num_workers, resume=False, progress=False, cache_dir=Path(tmp) / "cache",
                                   resize_backend=resize_backend)
                rates[precision].append(len(paths) / (time.perf_counter() - start))
                outputs[precision] = load_embeddings(out)["cls"]
        same_pixels = _same_pixels_diff(backbone, card, paths[:n_check], card_cls[:n_check])
    result = {"card_img_s": statistics.median(rates["card"]), "same_pixels_max_cls_diff": same_pixels}
    result.update(_roofline(backbone, result["card_img_s"]))
    for precision in precisions:
        result[f"{precision}_img_s"] = statistics.median(rates[precision])
        result[f"{precision}_ratio"] = result[f"{precision}_img_s"] / result["card_img_s"]
        result[f"{precision}_max_cls_diff"] = float(np.abs(outputs[precision] - card_cls).max())
        result[f"{precision}_min_cos"] = _cosine_min(outputs[precision], card_cls)
    print(f"arch={arch} images={len(paths)} batch={batch_size} threads={torch.get_num_threads()} repeats={repeats}")
    print(f"model card (processor + AutoModel, 1 image/call, fp32): {result['card_img_s']:.3f} img/s (median; "
          f"runs {', '.join(f'{v:.3f}' for v in rates['card'])})")
    for precision in precisions:
        runs = ", ".join(f"{v:.3f}" for v in rates[precision])
        print(f"raddino_monai extract_embeddings batched {precision}:   {result[f'{precision}_img_s']:.3f} img/s "
              f"(median; runs {runs})  ratio {result[f'{precision}_ratio']:.2f}x"
              f"  vs card CLS: max |diff| {result[f'{precision}_max_cls_diff']:.3g}, "
              f"min cosine {result[f'{precision}_min_cos']:.6f}")
    print(f"same pixels (card's tensors, our batched backbone fp32) vs card CLS: max |diff| {same_pixels:.3g}")
    print(f"roofline: {result['flops_per_image'] / 1e9:.1f} GFLOP per image at {RADDINO_PREPROCESS.size} px; the card "
          f"path runs at {result['card_flop_s'] / 1e9:.1f} GFLOP/s = {100 * result['card_fp32_peak_fraction']:.0f}% of "
          f"the fp32 GEMM peak ({result['gemm_fp32_flop_s'] / 1e9:.1f} GFLOP/s; bf16 peak "
          f"{result['gemm_bf16_flop_s'] / 1e9:.1f}): at most {result['fp32_ceiling_ratio']:.2f}x in fp32 and "
          f"{result['bf16_ceiling_ratio']:.2f}x in bf16 are left by the GEMM peak alone")
    return result


def _roofline(backbone: RadDinoBackbone, card_img_s: float) -> dict[str, float]:
    """FLOPs of one forward at the card's input side and the GEMM peaks measured now: how far any fp32 / bf16 path
    can get above the card's speed on this machine (the ceilings are peak / achieved FLOP/s)."""
    x = torch.zeros(1, 3, RADDINO_PREPROCESS.size, RADDINO_PREPROCESS.size)
    with torch.no_grad():
        flops = count_flops(lambda: backbone(x))
    peaks = {name: gemm_flops_per_s(dtype) for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    achieved = flops * card_img_s
    return {"flops_per_image": float(flops), "card_flop_s": achieved, "gemm_fp32_flop_s": peaks["fp32"],
            "gemm_bf16_flop_s": peaks["bf16"], "card_fp32_peak_fraction": achieved / peaks["fp32"],
            "fp32_ceiling_ratio": peaks["fp32"] / achieved, "bf16_ceiling_ratio": peaks["bf16"] / achieved}


if __name__ == "__main__":
    fire.Fire(benchmark)

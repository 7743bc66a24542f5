r"""What a frozen encoder sees, as PNG files: attention, patch correspondence, PCA maps, embedding maps, neighbours.

    python tools/visualize.py attention --image chest.png --encoder raddino_vitb14:/models/rad-dino --out_dir viz/
    python tools/visualize.py correspondence --image a.dcm --target b.png --encoder raddino_vitb14:/models/rad-dino \
        --query "(18,12)" --out_dir viz/
    python tools/visualize.py pca --images "['a.png','b.png','c.png','d.png']" --encoder raddino_vitb14:/models/rad-dino
    python tools/visualize.py embedding_map --datalist data/cxr.json \
        --encoders "['raddino_vitb14:/models/rad-dino','dinov2_vitb14:/models/dinov2','raddino_vitb14']" \
        --keys "['view','sex','age','finding']"
    python tools/visualize.py neighbours --datalist data/cxr.json --encoders "['raddino_vitb14:/models/rad-dino']" \
        --label_key finding --k 5

Encoders are ``arch`` (random init) or ``arch:weights`` (local HF folder or checkpoint), as in ``tools/evaluate.py``.
``embedding_map`` and ``neighbours`` also take ``--embeddings "['emb.npz']"`` written by
``tools/extract_embeddings.py`` (no model run). Per-image figures are named after their input files
(:func:`raddino_monai.transforms.output_name`: the file name without its image suffix, so ``1.2.826....1.dcm`` ->
``1.2.826....1_attention.png``). Library code: :mod:`raddino_monai.visualize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import fire

from raddino_monai.transforms import output_name
from raddino_monai.visualize.runners import (
    attention_job,
    correspondence_job,
    embedding_map_job,
    neighbours_job,
    pca_job,
)


def attention(image: str, encoder: str = "raddino_vitb14", out_dir: str = "visualize", image_size: int | None = None,
              fit: str = "crop", mass: float | None = 0.6, upsample: str = "nearest") -> str:
    """``<image>_attention.png``: last-block CLS attention per head at input resolution, with DINO's top-``mass``
    masks."""
    out = Path(out_dir) / f"{output_name(image)}_attention.png"
    return str(attention_job(image, out, encoder, image_size, fit, mass, upsample))


def correspondence(image: str, target: str, encoder: str = "raddino_vitb14", out_dir: str = "visualize",
                   query: tuple[int, int] | None = None, image_size: int | None = None, fit: str = "crop") -> str:
    """``<image>_patch_similarity_<target>.png``: similarity of every ``target`` patch to the ``query`` patch
    (row, col) of ``image``."""
    out = Path(out_dir) / f"{output_name(image)}_patch_similarity_{output_name(target)}.png"
    return str(correspondence_job(image, target, out, encoder, query, image_size, fit))


def pca(images: Sequence[str], encoder: str = "raddino_vitb14", out_dir: str = "visualize",
        image_size: int | None = None, fit: str = "crop", background_threshold: float | None = 0.0,
        scaling: str = "sigmoid") -> str:
    """``pca.png``: DINOv2-style RGB maps of patch features, one PCA across all ``images``."""
    files = [images] if isinstance(images, str) else list(images)
    return str(pca_job(files, Path(out_dir) / "pca.png", encoder, image_size, fit, background_threshold, scaling))


def embedding_map(datalist: str, encoders: Sequence[str] = (), embeddings: Sequence[str] = (),
                  out_dir: str = "visualize", keys: Sequence[str] = ("view", "sex", "age", "finding"),
                  methods: Sequence[str] = ("pca", "tsne"), split: str | None = None, image_size: int | None = None,
                  fit: str = "crop", k: int = 10, batch_size: int = 16, device: str = "cpu") -> dict[str, str]:
    """``embedding_map_<method>.png``: 2-D maps of CLS features, one row per metadata key, one column per encoder."""
    written = embedding_map_job(datalist, out_dir, list(encoders), list(embeddings), list(keys), list(methods), split,
                                image_size, fit, k, batch_size, device)
    return {method: str(path) for method, path in written.items()}


def neighbours(datalist: str, encoders: Sequence[str] = (), embeddings: Sequence[str] = (),
               out_dir: str = "visualize", label_key: str = "finding", k: int = 5, n_queries: int = 4,
               exclude_key: str | None = "patient_id", split: str | None = None, image_size: int | None = None,
               fit: str = "crop", batch_size: int = 16, device: str = "cpu") -> dict[str, str]:
    """``neighbours_<encoder>.png``: queries and their k nearest images, same-label precision@k in the title."""
    written = neighbours_job(datalist, out_dir, list(encoders), list(embeddings), label_key, k, n_queries,
                             exclude_key, split, image_size, fit, batch_size, device)
    return {name: str(path) for name, path in written.items()}


if __name__ == "__main__":
    fire.Fire({"attention": attention, "correspondence": correspondence, "pca": pca, "embedding_map": embedding_map,
               "neighbours": neighbours})

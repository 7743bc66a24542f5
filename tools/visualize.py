r"""Attention maps and patch correspondences of an encoder, written as PNG files.

    python tools/visualize.py --image chest.png --hf_folder runs/raddino/hf_teacher --out_dir viz/
    python tools/visualize.py --image a.dcm --target b.png --arch raddino_vitb14 \
        --weights rad-dino/backbone_compatible.safetensors --query "(18,12)"

Writes ``<image>_attention.png`` (CLS attention of the last block, per head) and, with ``--target``,
``<image>_patch_similarity_<target>.png`` (cosine similarity of every target patch to the query patch of the image),
named after the input files (:func:`raddino_monai.transforms.output_name`: file name without the image suffix, so
``1.2.826....1.dcm`` -> ``1.2.826....1_attention.png``). Library code: :mod:`raddino_monai.inference.visualize`.
"""

from __future__ import annotations

from pathlib import Path

import fire

from raddino_monai.inference.visualize import (
    cls_attention,
    patch_similarity,
    save_attention_png,
    save_patch_similarity_png,
)
from raddino_monai.models import backbone_from_hf_folder, create_backbone
from raddino_monai.transforms import LoadCXR, output_name, raddino_preprocessing_array


def visualize(
    image: str,
    out_dir: str = "visualize",
    hf_folder: str | None = None,
    arch: str = "raddino_vitb14",
    weights: str | None = None,
    target: str | None = None,
    query: tuple[int, int] | None = None,
    image_size: int | None = None,
    fit: str = "crop",
) -> dict[str, str]:
    """Write attention (and patch-similarity) PNGs for one image.

    Args:
        image: CXR file (PNG/JPEG/DICOM/NIfTI).
        out_dir: output folder.
        hf_folder: HF model folder (config.json + model.safetensors); takes precedence over ``arch``/``weights``.
        arch: registered architecture when no ``hf_folder`` is given.
        weights: checkpoint for ``arch`` (DINOv2 or HF naming); random init if omitted.
        target: second image for the patch correspondence map.
        query: ``(row, col)`` query patch; default the centre of the grid.
        image_size: input side; default the backbone's ``image_size``.
        fit: ``"crop"`` (RAD-DINO), ``"pad"`` or ``"resize"``.

    Returns:
        ``{"attention": path, "patch_similarity": path?}`` (``<image>_attention.png``,
        ``<image>_patch_similarity_<target>.png``).
    """
    backbone = backbone_from_hf_folder(hf_folder) if hf_folder else create_backbone(arch, weights=weights)
    size = int(image_size or backbone.model.config.image_size)
    prep = raddino_preprocessing_array(size=size, fit=fit)
    load = LoadCXR()
    src = prep(load(image))
    out, name = Path(out_dir), output_name(image)
    attention_png = out / f"{name}_attention.png"
    written = {"attention": str(save_attention_png(src, cls_attention(backbone, src), attention_png, image))}
    if target is not None:
        tgt = prep(load(target))
        grid = size // backbone.patch_size
        q = tuple(query) if query is not None else (grid // 2, grid // 2)
        sim = patch_similarity(backbone, src, tgt, q)
        written["patch_similarity"] = str(
            save_patch_similarity_png(src, tgt, sim, q, backbone.patch_size,
                                      out / f"{name}_patch_similarity_{output_name(target)}.png")
        )
    return written


if __name__ == "__main__":
    fire.Fire(visualize)

"""Tutorial 05: weights that any transformers user can load, DINOv2 naming, and batched embeddings.

    .venv/bin/python tutorials/05_weights_and_embeddings.py OUTPUT_DIR
    .venv/bin/python tutorials/05_weights_and_embeddings.py OUTPUT_DIR --arch=raddino_vitb14 --n_images=2

Everything runs offline on a random-init model (use ``create_backbone(arch, weights=LOCAL_PATH)`` for real weights,
e.g. a downloaded microsoft/rad-dino folder or its ``backbone_compatible.safetensors``). Writes into ``OUTPUT_DIR``:
``hf/`` (an HF model folder), ``backbone_compatible.safetensors`` (DINOv2 naming) and ``embeddings.npz``.

Steps:
    1. ``create_backbone("tiny_vit_p14")``: a small random-init ViT with patch 14 (its LayerScale starts at 1.0 as in
       released checkpoints, so every block changes the output and the comparisons below mean something).
    2. ``export_hf_folder``: ``config.json``, ``model.safetensors`` in the released key naming
       (``attention.attention.query``..., loadable by transformers 4.x and 5.x) and a ``preprocessor_config.json``
       with RAD-DINO's ``BitImageProcessor`` settings.
    3. Plain ``transformers.AutoModel.from_pretrained(folder)`` (no raddino_monai) gives exactly our outputs, with and
       without iBOT masking.
    4. ``convert_to_dinov2``: the same weights in facebookresearch/dinov2 naming (fused ``qkv``, ``ls1.gamma``,
       ``pos_embed``), which loads back (and ``strict=True`` into the DINOv2 hub model of the same architecture).
    5. ``extract_embeddings``: CLS, mean-patch and patch-grid features of a few embedded sample radiographs, batched,
       written with their ids; compared with the model-card path (``AutoImageProcessor`` + ``AutoModel``).
"""

from __future__ import annotations

from pathlib import Path

import fire
import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from transformers import AutoImageProcessor, AutoModel

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.inference import extract_embeddings, load_embeddings
from raddino_monai.models import create_backbone, export_hf_folder
from raddino_monai.models.weights import convert_to_dinov2


def main(output_dir: str, arch: str = "tiny_vit_p14", n_images: int = 4, seed: int = 0) -> dict[str, float]:
    """Run the five steps and print what each one shows.

    Args:
        output_dir: folder for the HF folder, the DINOv2 file and the embeddings.
        arch: registered architecture (``raddino_vitb14`` is the released RAD-DINO shape; slow on CPU at 518 px).
        n_images: sample radiographs to embed.
        seed: seed of the random init and of the test inputs.

    Returns:
        ``{"hf_max_diff", "dinov2_max_diff", "card_min_cosine", "n_images"}``.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    # 1. a random-init backbone (stand-in for a trained teacher)
    backbone = create_backbone(arch).eval()
    size = int(backbone.config.image_size)
    print(f"1. {arch}: {backbone.num_layers} blocks, width {backbone.embed_dim}, patch {backbone.patch_size}, "
          f"{size} px")

    # 2. HF folder in the released naming
    folder = export_hf_folder(backbone, out / "hf")
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = sorted(f.keys())
    print(f"2. {folder}: {sorted(p.name for p in folder.iterdir())}; keys like {keys[5]!r}")

    # 3. plain transformers, no raddino_monai: identical outputs
    model = AutoModel.from_pretrained(str(folder)).eval()
    x = torch.randn(2, 3, size, size)
    masks = torch.rand(2, (size // backbone.patch_size) ** 2) < 0.3
    with torch.no_grad():
        hf_diff = max(
            float((model(pixel_values=x, bool_masked_pos=m).last_hidden_state
                   - backbone.model(pixel_values=x, bool_masked_pos=m).last_hidden_state).abs().max())
            for m in (None, masks)
        )
    print(f"3. AutoModel.from_pretrained -> {type(model).__name__}; max |difference| to ours: {hf_diff:.3g}")

    # 4. DINOv2 naming (like RAD-DINO's backbone_compatible.safetensors) and back
    dinov2_file = convert_to_dinov2(folder, out / "backbone_compatible.safetensors")
    with safe_open(str(dinov2_file), "pt") as f:
        dv2_keys = set(f.keys())
        pos_shape = tuple(f.get_slice("pos_embed").get_shape())
    reloaded = create_backbone(arch, weights=dinov2_file).eval()
    with torch.no_grad():
        dv2_diff = float((reloaded(x) - backbone(x)).abs().max())
    print(f"4. {dinov2_file.name}: {len(dv2_keys)} tensors, 'blocks.0.attn.qkv.weight' in it: "
          f"{'blocks.0.attn.qkv.weight' in dv2_keys}, pos_embed {pos_shape}; reloaded max |difference|: {dv2_diff:.3g}")

    # 5. batched embeddings of sample radiographs, compared with the model-card path
    paths = [str(p) for p in sorted((sample_data_dir() / "images").glob("*.png"))[:n_images]]
    emb_file = extract_embeddings(paths, out / "embeddings.npz", backbone=backbone, batch_size=n_images,
                                  pooling=("cls", "mean", "patch"), resume=False, progress=False)
    emb = load_embeddings(emb_file)
    processor = AutoImageProcessor.from_pretrained(str(folder), backend="pil")
    with torch.no_grad():
        card = np.stack([
            model(**processor(images=Image.open(p), return_tensors="pt")).last_hidden_state[0, 0].numpy()
            for p in paths
        ])
    cosine = (emb["cls"] * card).sum(1) / (np.linalg.norm(emb["cls"], axis=1) * np.linalg.norm(card, axis=1))
    print(f"5. {emb_file.name}: ids {[Path(i).name for i in emb['ids']]}, cls {emb['cls'].shape}, "
          f"mean {emb['mean'].shape}, patch {emb['patch'].shape}; CLS cosine to the model-card path: "
          f"min {cosine.min():.6f} (float vs uint8 resize)")
    return {"hf_max_diff": hf_diff, "dinov2_max_diff": dv2_diff, "card_min_cosine": float(cosine.min()),
            "n_images": len(paths)}


if __name__ == "__main__":
    fire.Fire(main)

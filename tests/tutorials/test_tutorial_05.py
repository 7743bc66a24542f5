"""Tutorial 05 runs end to end on the tiny backbone and shows exact HF/DINOv2 round trips."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorials" / "05_weights_and_embeddings.py"


def test_tutorial_05_weights_and_embeddings(tmp_path: Path) -> None:
    main = runpy.run_path(str(TUTORIAL))["main"]
    result = main(str(tmp_path), n_images=2)
    assert result["hf_max_diff"] == 0.0 and result["dinov2_max_diff"] == 0.0
    assert result["card_min_cosine"] > 0.999 and result["n_images"] == 2
    assert (tmp_path / "hf" / "preprocessor_config.json").is_file()
    assert (tmp_path / "backbone_compatible.safetensors").is_file()
    emb = np.load(tmp_path / "embeddings.npz")
    assert emb["cls"].shape == (2, 192) and emb["patch"].shape == (2, 192, 8, 8)

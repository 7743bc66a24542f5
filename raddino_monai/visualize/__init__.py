"""Figures (PNG) of what an encoder sees, how a pretraining run went and what a segmentation head predicts.

Layer: above ``models`` / ``data`` / ``inference`` / ``evaluation`` (it reads features through
``create_backbone`` + ``forward_features`` and ``extract_embeddings``), below ``engines`` and ``tools``.

* :mod:`.figure` — Agg backend, greyscale display, PNG writing (shared by every figure).
* :mod:`.attention` — CLS attention at input resolution, DINO's top-60 %-mass masks.
* :mod:`.correspondence` — patch-to-patch cosine similarity across two images.
* :mod:`.pca_maps` — DINOv2-style RGB maps of patch features, one PCA across a grid of images.
* :mod:`.embedding_maps` — 2-D PCA / t-SNE of CLS features coloured by metadata, encoders side by side.
* :mod:`.neighbours` — nearest-neighbour retrieval grids with same-label precision@k.
* :mod:`.run_report` — every TensorBoard scalar of a pretraining run in one PNG.
* :mod:`.segmentation` — image, ground truth and prediction overlays with per-image Dice.
* :mod:`.runners` — path-level entry points behind ``tools/visualize.py`` and ``tools/plot_run.py``.
"""

from __future__ import annotations

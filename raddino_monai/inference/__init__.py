"""Inference with frozen backbones: batched, resumable embedding extraction."""

from __future__ import annotations

from raddino_monai.inference.embedding_store import load_embeddings, save_embeddings
from raddino_monai.inference.embeddings import POOLINGS, extract_embeddings, resolve_inputs

__all__ = ["extract_embeddings", "resolve_inputs", "POOLINGS", "load_embeddings", "save_embeddings"]

"""Inference with frozen backbones: the pooling vocabulary and batched (in-memory or resumable file) extraction."""

from __future__ import annotations

from raddino_monai.inference.embedding_store import load_embeddings, save_embeddings
from raddino_monai.inference.embeddings import embed_images, extract_embeddings, resolve_inputs
from raddino_monai.inference.pooling import POOLINGS, VECTOR_POOLINGS, pool_features, pooled_dim

__all__ = [
    "embed_images",
    "extract_embeddings",
    "resolve_inputs",
    "POOLINGS",
    "VECTOR_POOLINGS",
    "pool_features",
    "pooled_dim",
    "load_embeddings",
    "save_embeddings",
]

"""Independent NumPy (float64) re-derivation of the ConVIRT loss, used as a test oracle.

Written from the formulas of Zhang et al., arXiv 2010.00747 §2.2 (image-to-text and text-to-image InfoNCE on cosine
similarity, combined with weight lambda and averaged over the pairs), without importing ``raddino_monai``. Loops are
explicit on purpose.
"""

from __future__ import annotations

import math

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def direction_losses(queries: np.ndarray, keys: np.ndarray, temperature: float) -> np.ndarray:
    """``l_i = -log(exp(<q_i, k_i>/tau) / sum_k exp(<q_i, k_k>/tau))`` for every row ``i`` (one direction)."""
    n = queries.shape[0]
    out = np.zeros(n)
    for i in range(n):
        sims = [cosine(queries[i], keys[k]) / temperature for k in range(n)]
        top = max(sims)
        log_denominator = top + math.log(sum(math.exp(s - top) for s in sims))
        out[i] = -(sims[i] - log_denominator)
    return out


def convirt_loss(images: np.ndarray, texts: np.ndarray, temperature: float, weight: float) -> dict[str, float]:
    """ConVIRT loss of one (global) batch: ``mean_i [weight * l(v->u)_i + (1 - weight) * l(u->v)_i]``."""
    v2u = direction_losses(images, texts, temperature)
    u2v = direction_losses(texts, images, temperature)
    return {
        "loss": float(np.mean(weight * v2u + (1.0 - weight) * u2v)),
        "loss_image_to_text": float(v2u.mean()),
        "loss_text_to_image": float(u2v.mean()),
    }

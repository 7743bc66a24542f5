"""Independent NumPy (float64) re-derivations of the DINOv2 SSL maths, used as test oracles.

Written from the formulas in DINOv2 (facebookresearch/dinov2 @ b8931f7: ``loss/dino_clstoken_loss.py``,
``loss/ibot_patch_loss.py``, ``loss/koleo_loss.py``, ``train/ssl_meta_arch.py``, ``utils/utils.py``) and the
papers, without importing ``raddino_monai``. Loops are explicit on purpose: these favour readability over speed.
"""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax_centering_sequence(
    batches: list[np.ndarray], temps: list[float], momentum: float
) -> tuple[list[np.ndarray], np.ndarray]:
    """Teacher probabilities for consecutive batches; batch s uses the centre built from batches < s.

    Returns the list of probabilities and the final centre ``(K,)``.
    """
    center = np.zeros(batches[0].shape[-1])
    probs = []
    for t, temp in zip(batches, temps):
        rows = t.reshape(-1, t.shape[-1])
        probs.append(softmax((t - center) / temp))
        center = momentum * center + (1.0 - momentum) * rows.mean(axis=0)
    return probs, center


def sinkhorn_knopp(t: np.ndarray, temp: float, n_iterations: int = 3) -> np.ndarray:
    """SwAV / DINOv2 Sinkhorn-Knopp on ``(B, K)`` logits, with the raw ``exp`` (no max shift)."""
    q = np.exp(t / temp).T  # (K, B)
    n_protos, n_samples = q.shape
    q = q / q.sum()
    for _ in range(n_iterations):
        q = q / q.sum(axis=1, keepdims=True)
        q = q / n_protos
        q = q / q.sum(axis=0, keepdims=True)
        q = q / n_samples
    return (q * n_samples).T


def cross_entropy_rows(teacher_probs: np.ndarray, student_logits: np.ndarray, student_temp: float) -> np.ndarray:
    """``-sum_k p_t * log_softmax(s / T_s)`` per row."""
    return -(teacher_probs * log_softmax(student_logits / student_temp)).sum(axis=-1)


def dinov2_dino_loss_two_globals(
    student_views: list[np.ndarray], teacher_probs: list[np.ndarray], student_temp: float
) -> float:
    """DINOv2's exact bookkeeping for 2 global crops: swapped teacher, local term /n_terms, global term *2/n_terms.

    ``student_views`` = [global0, global1, local0, ...]; ``teacher_probs`` = [teacher0, teacher1] (natural order).
    """
    assert len(teacher_probs) == 2
    n_local = len(student_views) - 2
    n_terms = 2 * 1 + 2 * n_local
    swapped = [teacher_probs[1], teacher_probs[0]]
    local_loss = 0.0
    for s in student_views[2:]:
        for t in swapped:
            local_loss += cross_entropy_rows(t, s, student_temp).mean()
    local_loss /= n_terms
    student_global = np.concatenate(student_views[:2])
    teacher_global = np.concatenate(swapped)
    global_loss = cross_entropy_rows(teacher_global, student_global, student_temp).mean() * 2 / n_terms
    return float(local_loss + global_loss)


def dino_loss_pair_mean(student_views: list[np.ndarray], teacher_probs: list[np.ndarray], student_temp: float) -> float:
    """Mean over (teacher view g, student view v != g) pairs of the batch-mean cross-entropy (any number of views)."""
    total, n_pairs = 0.0, 0
    for g, t in enumerate(teacher_probs):
        for v, s in enumerate(student_views):
            if v == g:
                continue
            total += cross_entropy_rows(t, s, student_temp).mean()
            n_pairs += 1
    return total / n_pairs


def ibot_loss(
    student_masked: np.ndarray, teacher_masked: np.ndarray, masks: np.ndarray, student_temp: float
) -> float:
    """iBOT loss: rows are the masked patches in ``masks.flatten().nonzero()`` order; per-image mean, / n_images."""
    n_images = masks.shape[0]
    weights = []
    for image_mask in masks:
        n_masked = int(image_mask.sum())
        if n_masked:
            weights += [1.0 / n_masked] * n_masked
    ce = cross_entropy_rows(teacher_masked, student_masked, student_temp)
    return float((np.asarray(weights) * ce).sum() / n_images)


def koleo_loss(x: np.ndarray, eps: float = 1e-8) -> float:
    """KoLeo: nearest neighbour by cosine (self excluded), distance ``||x_i - x_j + eps||``, ``-mean log(d + eps)``."""
    norms = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)
    x = x / norms
    n = x.shape[0]
    losses = []
    for i in range(n):
        best_j, best_dot = -1, -np.inf
        for j in range(n):
            if j != i and x[i] @ x[j] > best_dot:
                best_j, best_dot = j, x[i] @ x[j]
        d = np.linalg.norm(x[i] - x[best_j] + eps)
        losses.append(-np.log(d + eps))
    return float(np.mean(losses))


def dinov2_cosine_schedule(
    base: float, final: float, total_iters: int, warmup_iters: int = 0, start_warmup: float = 0.0, freeze_iters: int = 0
) -> np.ndarray:
    """DINOv2 ``CosineScheduler.schedule``: zeros, ``linspace`` warm-up, half-cosine over the remaining iterations."""
    freeze = np.zeros(freeze_iters)
    warmup = np.linspace(start_warmup, base, warmup_iters)
    iters = np.arange(total_iters - warmup_iters - freeze_iters)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / max(len(iters), 1)))
    schedule = np.concatenate((freeze, warmup, cosine))
    assert len(schedule) == total_iters
    return schedule

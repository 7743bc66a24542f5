"""Small-scale evidence that the SSL engine learns: pretrain a tiny ViT on CPU, then frozen linear probes of its
teacher vs the same architecture at random initialisation.

:func:`pretrain_tiny` runs :class:`~raddino_monai.engines.SSLTrainer` (the bundle's pipeline in Python) for a number of
iterations or minutes and reports training images/s and the share of each step spent waiting for data.
:func:`probe_frozen` fits a scikit-learn ``LogisticRegression`` on frozen CLS embeddings with a patient-grouped split
for the items' ``view`` (PA / AP / lateral) and ``sex``. :func:`ssl_evidence` does both and writes ``results.json``
and ``results.png``. CLI: ``tools/ssl_evidence.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import monai
import numpy as np
import torch
from ignite.engine import Events
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.preprocessing import StandardScaler

from raddino_monai.data.datalist import load_datalist
from raddino_monai.engines.data_order import ResumableDistributedSampler, SeededDataset, SeededSSLCollate
from raddino_monai.engines.handlers import SSLTensorBoardHandler, ThroughputMonitor
from raddino_monai.engines.ssl_trainer import SSLTrainer
from raddino_monai.models import RadDinoBackbone, create_backbone
from raddino_monai.ssl import SSLConfig, StudentTeacher
from raddino_monai.transforms import LoadCXRd, MultiCropConfig, MultiCropd, ResizeShortestEdged, raddino_preprocessing

__all__ = ["VIEW_GROUPS", "pretrain_tiny", "embed_items", "probe_frozen", "ssl_evidence", "probe_targets"]

#: DICOM-style ViewPosition strings -> probe classes; anything else is left out of the view probe
VIEW_GROUPS: dict[str, str] = {
    "PA": "PA", "AP": "AP", "AP SUPINE": "AP", "AP ERECT": "AP", "AP SEMI ERECT": "AP",
    "L": "lateral", "LL": "lateral", "RL": "lateral", "LATERAL": "lateral",
}
_SEX = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F"}


def pretrain_tiny(
    items: Sequence[Mapping[str, Any]],
    output_dir: str | Path,
    max_iters: int = 300,
    max_minutes: float = 5.0,
    arch: str = "tiny_vit_p16",
    batch_size: int = 16,
    num_workers: int = 1,
    crops: MultiCropConfig | None = None,
    seed: int = 0,
) -> tuple[StudentTeacher, dict[str, float]]:
    """Pretrain ``arch`` from scratch on CPU with the tiny recipe (:meth:`SSLConfig.tiny`).

    Args:
        items: datalist items with ``image``.
        output_dir: TensorBoard logs go to ``output_dir/tensorboard``.
        max_iters: schedule length; training stops earlier when ``max_minutes`` is reached.
        max_minutes: wall-clock budget.
        arch: backbone name (a tiny one on CPU).
        batch_size: images per step.
        num_workers: DataLoader workers (data-wait share shows whether they keep up).
        crops: multi-crop recipe (default ``MultiCropConfig.tiny()``: 112 / 48 px, 4 local crops).
        seed: run seed.

    Returns:
        the trained model and ``{"iterations", "images_per_s", "data_wait_share", "seconds", "final_loss"}``.
    """
    crops = crops or MultiCropConfig.tiny()
    monai.utils.set_determinism(seed=seed)
    config = SSLConfig.tiny(total_iters=max_iters, backbone={"name": arch})
    model = StudentTeacher.from_config(config)
    transform = monai.transforms.Compose(
        [LoadCXRd("image"), ResizeShortestEdged("image", size=crops.global_size), MultiCropd("image", crops)]
    )
    dataset = SeededDataset(monai.data.CacheDataset(list(items), transform=transform, progress=False), seed=seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ResumableDistributedSampler(dataset, seed=seed, num_replicas=1, rank=0),
        collate_fn=SeededSSLCollate(model.student["backbone"].patch_size, seed=seed),
        num_workers=num_workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    monitor = ThroughputMonitor(warmup=2)
    handlers = [monitor, SSLTensorBoardHandler(Path(output_dir) / "tensorboard", interval=5)]
    trainer = SSLTrainer(
        device="cpu",
        max_epochs=-(-max_iters // len(loader)),
        train_data_loader=loader,
        network=model,
        optimizer=torch.optim.AdamW(model.param_groups()),
        schedules=config.build_schedules(batch_size, total_iters=max_iters),
        train_handlers=handlers,
    )
    start = time.perf_counter()

    def stop_when_done(engine: SSLTrainer) -> None:
        if engine.state.iteration >= max_iters or time.perf_counter() - start > 60 * max_minutes:
            engine.terminate()

    trainer.add_event_handler(Events.ITERATION_COMPLETED, stop_when_done)
    trainer.run()
    stats = {**monitor.summary(), "iterations": float(trainer.state.iteration)}
    stats["final_loss"] = float(trainer.state.output["losses"]["loss"])
    return model, stats


@torch.no_grad()
def embed_items(
    backbone: RadDinoBackbone, items: Sequence[Mapping[str, Any]], size: int, batch: int = 32
) -> np.ndarray:
    """Frozen normed CLS embeddings ``(N, D)`` of ``items`` preprocessed as RAD-DINO (short side, centre crop)."""
    transform = monai.transforms.Compose([LoadCXRd("image"), raddino_preprocessing("image", size=size)])
    dataset = monai.data.Dataset([{"image": it["image"]} for it in items], transform=transform)
    backbone.eval()
    out = [backbone(b["image"]).float() for b in monai.data.DataLoader(dataset, batch_size=batch)]
    return torch.cat(out).numpy()


def probe_targets(items: Sequence[Mapping[str, Any]], attribute: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the items usable for ``attribute`` (``"view"`` or ``"sex"``) and their class names."""
    table = {"view": VIEW_GROUPS, "sex": _SEX}[attribute]
    keep, labels = [], []
    for i, item in enumerate(items):
        value = table.get(str(item.get(attribute, "")).strip().upper())
        if value is not None:
            keep.append(i)
            labels.append(value)
    return np.asarray(keep, dtype=int), np.asarray(labels)


def probe_frozen(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0
) -> dict[str, float]:
    """Balanced accuracy of a logistic-regression probe over ``n_splits`` patient-grouped 75/25 splits.

    Returns:
        ``{"balanced_accuracy": mean, "std": std, "chance": 1 / n_classes, "n": samples}``.
    """
    scores = []
    for train, test in GroupShuffleSplit(n_splits=n_splits, test_size=0.25, random_state=seed).split(
        features, labels, groups
    ):
        if len(set(labels[train])) < 2:
            continue
        scaler = StandardScaler().fit(features[train])
        clf = LogisticRegression(max_iter=2000, class_weight="balanced")
        clf.fit(scaler.transform(features[train]), labels[train])
        scores.append(balanced_accuracy_score(labels[test], clf.predict(scaler.transform(features[test]))))
    return {
        "balanced_accuracy": float(np.mean(scores)) if scores else float("nan"),
        "std": float(np.std(scores)) if scores else float("nan"),
        "chance": 1.0 / max(len(set(labels)), 1),
        "n": float(len(labels)),
    }


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results["probes"])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for k, (name, offset) in enumerate((("pretrained", -0.2), ("random_init", 0.2))):
        values = [results["probes"][t][name]["balanced_accuracy"] for t in tasks]
        ax.bar(np.arange(len(tasks)) + offset, values, width=0.4, label=name.replace("_", " "))
    for i, t in enumerate(tasks):
        ax.hlines(results["probes"][t]["pretrained"]["chance"], i - 0.4, i + 0.4, colors="k", linestyles=":")
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylabel("balanced accuracy (frozen CLS probe)")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ssl_evidence(
    datalist: str | Path,
    output_dir: str | Path,
    max_iters: int = 300,
    max_minutes: float = 5.0,
    arch: str = "tiny_vit_p16",
    batch_size: int = 16,
    num_workers: int = 1,
    probe_size: int = 112,
    seed: int = 0,
) -> dict[str, Any]:
    """Pretrain on every item of ``datalist``, then probe view and sex: SSL teacher vs random init.

    Args:
        datalist: JSON/CSV datalist; items need ``image`` and, for the probes, ``patient_id``, ``view``, ``sex``.
        output_dir: where ``results.json``, ``results.png`` and TensorBoard logs go.
        max_iters: pretraining schedule length (iterations).
        max_minutes: pretraining wall-clock budget.
        arch: backbone name.
        batch_size: pretraining batch.
        num_workers: DataLoader workers.
        probe_size: probe input side.
        seed: seed of pretraining, random init and splits.

    Returns:
        the results dict (also written to ``results.json``).
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = load_datalist(datalist)
    crops = MultiCropConfig.tiny()
    model, stats = pretrain_tiny(items, out, max_iters, max_minutes, arch, batch_size, num_workers, crops, seed)
    torch.manual_seed(seed)
    encoders = {"pretrained": model.teacher["backbone"], "random_init": create_backbone(arch)}
    features = {name: embed_items(enc, items, probe_size) for name, enc in encoders.items()}
    groups_all = np.asarray([str(it.get("patient_id", i)) for i, it in enumerate(items)])
    probes: dict[str, Any] = {}
    for attribute in ("view", "sex"):
        keep, labels = probe_targets(items, attribute)
        if len(set(labels)) < 2:
            continue
        probes[attribute] = {
            name: probe_frozen(feats[keep], labels, groups_all[keep], seed=seed) for name, feats in features.items()
        }
    results = {"pretraining": stats, "probes": probes, "n_images": len(items), "arch": arch}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    if probes:
        _plot(results, out / "results.png")
    return results

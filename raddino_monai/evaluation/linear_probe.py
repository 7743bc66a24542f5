"""Linear probing of a frozen encoder (RAD-DINO [PAPER] §4.2, Tables 2-4; label efficiency Table 2).

Protocol: the backbone is frozen; a single linear layer on pooled features (:mod:`.features`) is trained with
AdamW, a cosine schedule, batch 96, 100 epochs and base lr 5e-5 ([PAPER] §4 / appendix, as summarised in the
project's issue 5). Training uses random flip / crop / affine / intensity / noise augmentation (:mod:`.augment`);
with ``augment=False`` features are extracted once (:func:`raddino_monai.inference.embed_images`) and the probe is
trained on the cached embeddings (fast path).
Per-class and macro AUPRC (primary) and AUROC are computed on the test split with scikit-learn, for every seed and
label fraction (patient-level, nested subsets from :func:`raddino_monai.data.splits.label_fraction`), and summarised
as mean ± std over seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from monai.data import DataLoader, Dataset, list_data_collate
from torch import nn
from torch.utils.data import Dataset as TorchDataset

from raddino_monai._compat import moved_names
from raddino_monai.data.bad_files import BadFileLog, SkipBadCollate, SkipBadFiles, batches_without_bad_files
from raddino_monai.data.splits import label_fraction
from raddino_monai.inference.embeddings import _embedding_loop, embed_images

from .augment import AugmentationConfig, classification_transforms
from .features import FrozenEncoder
from .head_training import train_head
from .labels import encode_targets, infer_classes, num_outputs, output_names
from .metrics import TASKS, classification_metrics, summarise_runs
from .tasks import PROBE_TASKS

__all__ = ["LinearProbeConfig", "init_linear", "train_linear_head", "predict_probabilities", "evaluate_linear_probe",
           "extract_features"]

__getattr__ = moved_names(__name__)  # run_linear_probe -> evaluate_linear_probe


@dataclass
class LinearProbeConfig:
    """Linear-probe settings. Defaults follow RAD-DINO [PAPER] §4 / appendix unless marked otherwise.

    Args:
        task: ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        label_key: datalist key of the label.
        classes: class names; default: inferred from the training items (:func:`.labels.infer_classes`).
        pooling: ``"cls"`` (paper), ``"cls_patchmean"`` or ``"last_n_cls"`` ([DV2] linear eval).
        n_last_blocks: blocks for ``"last_n_cls"`` ([DV2] n in {1, 4}).
        image_size: input side; ``None``: the backbone's ``config.image_size`` ([HF] 518 for RAD-DINO).
        fit: ``raddino_preprocessing`` fit (``"crop"`` = [HF] processor).
        epochs: 100 [PAPER].
        batch_size: 96 [PAPER].
        base_lr: 5e-5 [PAPER]; used as the AdamW lr at ``batch_size`` (no batch scaling).
        weight_decay: AdamW weight decay; not stated in the paper, 0.01 = torch AdamW default (ours).
        warmup_epochs: linear warmup before the cosine decay (ours: 0).
        augment: train on augmented images (paper); False = cached-embedding fast path.
        augmentation: augmentation magnitudes (ours, see :class:`.augment.AugmentationConfig`).
        seeds: repetitions (5 [PAPER]: mean ± std over 5 seeds).
        label_fractions: training-label fractions (1 %, 10 %, 100 % [PAPER] Table 2).
        stratify: stratify the label-fraction subsets by label (single-label tasks only).
        feature_batch_size: batch size of frozen feature extraction.
        device: torch device string.
        num_workers: DataLoader workers.
        max_bad_fraction: largest share of unreadable images that is skipped and counted (left out of training and
            test, listed in the job's ``bad_files.csv``); 0 (ours: the test set is exactly the datalist's unless
            asked) stops at the first one with an error naming it.
    """

    task: str = "multilabel"
    label_key: str = "label"
    classes: list[str] | None = None
    pooling: str = "cls"
    n_last_blocks: int = 4
    image_size: int | None = None
    fit: str = "crop"
    epochs: int = 100
    batch_size: int = 96
    base_lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_epochs: int = 0
    augment: bool = True
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    label_fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    stratify: bool = True
    feature_batch_size: int = 32
    device: str = "cpu"
    num_workers: int = 0
    max_bad_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.max_bad_fraction) <= 1.0:
            raise ValueError(f"LinearProbeConfig.max_bad_fraction must lie in [0, 1], found {self.max_bad_fraction}.")
        if self.task not in TASKS:
            raise ValueError(f"LinearProbeConfig.task={self.task!r}; valid values: {list(TASKS)}.")
        self.seeds = tuple(int(s) for s in self.seeds)
        self.label_fractions = tuple(float(f) for f in self.label_fractions)
        if isinstance(self.augmentation, Mapping):
            self.augmentation = AugmentationConfig(**self.augmentation)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of every setting (saved next to the results)."""
        return dataclasses.asdict(self)


class _TransformedImages(TorchDataset):
    """``{"index", "image": transform({"image": path})["image"]}`` items for the extraction loop."""

    def __init__(self, paths: Sequence[str], transform: Callable) -> None:
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"index": index, "image": torch.as_tensor(self.transform({"image": self.paths[index]})["image"])}


def extract_features(
    encoder: FrozenEncoder,
    images: Sequence[str],
    transform: Callable,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    desc: str = "features",
) -> torch.Tensor:
    """Deprecated: use :func:`raddino_monai.inference.embed_images` (the one extraction path; it takes ``image_size``
    and ``fit`` instead of a transform). This runs the same loop over ``transform``'s output.

    Args:
        encoder: the frozen encoder (its pooling and ``n_last_blocks`` are used).
        images: image paths.
        transform: dictionary transform mapping ``{"image": path}`` to a ``(3, S, S)`` tensor.
        batch_size: images per forward pass.
        device: torch device.
        num_workers: DataLoader workers.
        desc: progress-bar label.

    Returns:
        ``(N, F)`` float32 on the CPU, in the order of ``images``.
    """
    warnings.warn("raddino_monai.evaluation.extract_features is deprecated; use raddino_monai.inference.embed_images",
                  DeprecationWarning, stacklevel=2)
    out: list[np.ndarray] = []
    _embedding_loop(encoder.backbone, _TransformedImages(images, transform), [encoder.pooling],
                    lambda indices, arrays: out.append(arrays[encoder.pooling]), encoder.n_last_blocks, batch_size,
                    device, num_workers=num_workers, desc=desc)
    return torch.from_numpy(np.concatenate(out)) if out else torch.zeros(0, encoder.out_dim)


def init_linear(layer: nn.Linear, seed: int) -> nn.Linear:
    """DINOv2 linear-classifier init ([DV2] ``eval/linear.py`` ``LinearClassifier``): weight N(0, 0.01), bias 0.

    Args:
        layer: the layer to initialise in place.
        seed: seed of the weight draw (independent of the global RNG).

    Returns:
        the layer.
    """
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.01)
        layer.bias.zero_()
    return layer


def train_linear_head(
    head: nn.Linear,
    epoch_batches: Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    steps_per_epoch: int,
    config: LinearProbeConfig,
    log: Callable[[str, float, int], None] | None = None,
) -> list[float]:
    """AdamW + cosine training loop of a linear head on feature batches (:func:`.head_training.train_head`).

    Args:
        head: the linear layer (trained in place).
        epoch_batches: ``epoch -> iterable of (features (B, F), targets)``.
        steps_per_epoch: batches per epoch (for the schedule).
        config: probe settings (epochs, lr, weight decay, warmup, task, device).
        log: optional ``(tag, value, step)`` sink (e.g. TensorBoard ``add_scalar``).

    Returns:
        mean training loss per epoch.
    """
    optimizer = functools.partial(torch.optim.AdamW, lr=config.base_lr, weight_decay=config.weight_decay)
    return train_head(head, epoch_batches, PROBE_TASKS[config.task].loss, optimizer, config.epochs, steps_per_epoch,
                      config.warmup_epochs * steps_per_epoch, config.device, "linear probe", log)


@torch.no_grad()
def predict_probabilities(head: nn.Linear, features: torch.Tensor, task: str, device: str = "cpu") -> np.ndarray:
    """Probabilities of the linear head on features ``(N, F)``: ``(N,)`` binary, ``(N, C)`` otherwise."""
    head.to(device).eval()
    return PROBE_TASKS[task].activation(head(features.to(device))).cpu().numpy()


def _cached_batches(feats: torch.Tensor, targets: torch.Tensor, batch: int, seed: int) -> Callable:
    def batches(epoch: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(feats), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            yield feats[idx], targets[idx]

    return batches


def _image_batches(
    encoder: FrozenEncoder, items: list[dict[str, Any]], targets: torch.Tensor, config: LinearProbeConfig, size: int,
    seed: int, bad_files: BadFileLog,
) -> Callable:
    transform = classification_transforms(size, config.fit, augment=True, aug=config.augmentation)
    transform.set_random_state(seed)
    data = [{"image": it["image"], "target": t} for it, t in zip(items, targets)]
    loader = DataLoader(SkipBadFiles(Dataset(data, transform)), batch_size=config.batch_size, shuffle=True,
                        num_workers=config.num_workers, generator=torch.Generator().manual_seed(seed),
                        collate_fn=SkipBadCollate(list_data_collate))
    encoder.to(config.device)

    def batches(epoch: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        for batch in batches_without_bad_files(loader, bad_files):
            yield encoder(batch["image"].to(config.device)), batch["target"]

    return batches


def evaluate_linear_probe(
    encoder: FrozenEncoder,
    train_items: Sequence[Mapping[str, Any]],
    test_items: Sequence[Mapping[str, Any]],
    config: LinearProbeConfig,
    log: Callable[[str, float, int], None] | None = None,
    bad_files: BadFileLog | None = None,
) -> dict[str, Any]:
    """Train and test linear probes for every label fraction × seed.

    Unreadable images are skipped and counted up to ``config.max_bad_fraction`` of the distinct images (test images
    while extracting features, training images when they are first loaded); items of a skipped image are left out.

    Args:
        encoder: frozen encoder (pooling set to ``config.pooling``).
        train_items: training datalist items (``image``, ``config.label_key``, ``patient_id``).
        test_items: test datalist items (patient-disjoint from ``train_items``).
        config: settings.
        log: optional scalar sink ``(tag, value, step)``.
        bad_files: where unreadable images are counted (default: a new log with ``config.max_bad_fraction``).

    Returns:
        ``{"classes", "score_names", "runs": [{"fraction", "seed", "n_train", <metrics>}],
        "summary": {fraction: {metric: (mean, std)}}, "head", "bad_files"}``; ``"head"`` is the linear layer trained
        on the largest label fraction with the first seed (the one a served bundle holds); ``"bad_files"`` the
        :class:`~raddino_monai.data.bad_files.BadFileLog`.

    Raises:
        ValueError: empty splits or labels that do not match the task.
        TooManyBadFilesError: more than ``config.max_bad_fraction`` of the images cannot be read (the message starts
            with the first such file).
    """
    if not train_items or not test_items:
        raise ValueError(
            f"evaluate_linear_probe needs training and test items; got {len(train_items)} and {len(test_items)}."
        )
    classes = list(config.classes or infer_classes(list(train_items) + list(test_items), config.label_key, config.task))
    names = output_names(config.task, classes)
    paths = sorted({str(it["image"]) for it in list(train_items) + list(test_items)})
    needed = paths if not config.augment else sorted({str(it["image"]) for it in test_items})
    size = config.image_size or int(encoder.backbone.config.image_size)
    bad_files = bad_files if bad_files is not None else BadFileLog(len(paths), config.max_bad_fraction)
    feats = torch.from_numpy(embed_images(
        encoder.backbone, needed, pooling=[encoder.pooling], n_last_blocks=encoder.n_last_blocks, image_size=size,
        fit=config.fit, batch_size=config.feature_batch_size, device=config.device, num_workers=config.num_workers,
        desc="features", bad_files=bad_files,
    )[encoder.pooling])
    row_of = {p: i for i, p in enumerate(p for p in needed if p not in bad_files.paths)}
    train_items = [it for it in train_items if str(it["image"]) not in bad_files.paths]
    test_items = [it for it in test_items if str(it["image"]) in row_of]
    test_x = feats[[row_of[str(it["image"])] for it in test_items]]
    test_y = encode_targets(test_items, config.label_key, config.task, classes)
    single_label = config.task != "multilabel"
    runs: list[dict[str, Any]] = []
    kept: nn.Linear | None = None
    for fraction in config.label_fractions:
        for seed in config.seeds:
            subset = label_fraction(train_items, fraction, seed=seed,
                                    stratify_key=config.label_key if config.stratify and single_label else None)
            y = torch.as_tensor(encode_targets(subset, config.label_key, config.task, classes))
            head = init_linear(nn.Linear(encoder.out_dim, num_outputs(config.task, classes)), seed)
            steps = math.ceil(len(subset) / config.batch_size)
            if config.augment:
                batches = _image_batches(encoder, list(subset), y, config, size, seed, bad_files)
            else:
                x = feats[[row_of[str(it["image"])] for it in subset]]
                batches = _cached_batches(x, y, config.batch_size, seed)
            tag_log = None if log is None else (lambda t, v, s, f=fraction, sd=seed: log(f"{t}/frac{f}/seed{sd}", v, s))
            history = train_linear_head(head, batches, steps, config, tag_log)
            scores = predict_probabilities(head, test_x, config.task, config.device)
            metrics = classification_metrics(test_y, scores, config.task, names)
            runs.append({"fraction": fraction, "seed": seed, "n_train": len(subset), "final_loss": history[-1],
                         **metrics})
            if fraction == max(config.label_fractions) and seed == config.seeds[0]:
                kept = head.cpu()
    summary = {f: summarise_runs([{k: v for k, v in r.items() if k not in ("fraction", "seed")}
                                  for r in runs if r["fraction"] == f]) for f in config.label_fractions}
    return {"classes": classes, "score_names": names, "runs": runs, "summary": summary, "head": kept,
            "bad_files": bad_files}

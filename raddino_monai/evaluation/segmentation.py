"""Segmentation on a frozen backbone (RAD-DINO [PAPER] §4.3, Table 6): train / evaluate / predict.

Heads: linear, ViTDet, UPerNet (:mod:`.heads`). Training follows the paper: Adam, lr 5e-4, cosine decay, batch 80,
100 epochs, with flips (except for left/right structures), affine, elastic, brightness/contrast and gamma
augmentation applied to image and mask together (:func:`.augment.segmentation_transforms`). The loss (Dice + cross
entropy, MONAI ``DiceCELoss``) is our choice; the paper does not state it in the sources we have.

Dice is MONAI ``DiceMetric`` per image and structure at the network resolution, background excluded, reported as
mean (std) over images. Images whose ground truth lacks a structure are included: an empty prediction scores 1, any
false-positive pixel scores 0 (``ignore_empty=False``).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.data import DataLoader, Dataset, list_data_collate
from monai.losses import DiceCELoss
from monai.transforms import Invertd
from monai.utils import convert_to_tensor
from torch import nn
from tqdm.auto import tqdm

from raddino_monai.data.bad_files import (
    BadFile,
    BadFileLog,
    SkipBadCollate,
    SkipBadFiles,
    batches_without_bad_files,
)
from raddino_monai.transforms.masks import MASK_MODES, LoadMaskd, write_mask_nifti, write_mask_png, write_overlay_png
from raddino_monai.losses.mixed_focal_dice import MixedFocalDiceLoss
from raddino_monai.transforms.output_names import output_names

from .augment import AugmentationConfig, segmentation_transforms
from .head_training import train_head
from .metrics import dice_per_image, mean_std
from .segmentation_model import FrozenSegmentationModel

__all__ = ["SegmentationConfig", "MASK_LOSSES", "SEGMENTATION_LOSSES", "MASK_DECISIONS", "build_segmentation_model",
           "binary_masks", "input_size", "train_segmentation", "evaluate_segmentation", "segmentation_examples",
           "predict_segmentation"]


@dataclass
class SegmentationConfig:
    """Segmentation-head settings; defaults from RAD-DINO [PAPER] §4.3 unless marked.

    Args:
        head: ``"linear"``, ``"vitdet"`` or ``"upernet"``.
        head_kwargs: head options (e.g. widths); defaults are the head's own (mmseg / detectron2 values).
        layer_indices: backbone blocks fed to the head; default per head
            (:func:`.segmentation_model.default_layer_indices`).
        mask_mode: ``"multiclass"`` (softmax, label map incl. background) or ``"multilabel"`` (sigmoid, one channel
            per structure).
        loss: training loss, a key of :data:`SEGMENTATION_LOSSES`: ``"dice_ce"`` (ours) or ``"ecamp_mixed"``
            (ECAMP's 10 * Focal - log Dice; multilabel only).
        class_names: output channel names (multiclass: background first); default ``["background", "foreground"]``
            or ``["structure_0", ...]``.
        mask_values: multiclass pixel value of each class (:class:`raddino_monai.transforms.masks.LoadMask`).
        image_size: network input side S; ``None``: the backbone's ``config.image_size`` ([HF] 518 for RAD-DINO).
        fit: ``"resize"`` or ``"pad"`` (:data:`.augment.SEGMENTATION_FITS`).
        epochs: 100 [PAPER].
        batch_size: 80 [PAPER].
        lr: Adam learning rate 5e-4 [PAPER], cosine-decayed per step to 0.
        augment: random augmentation during training [PAPER].
        horizontal_flip: allow left-right flips; False for lateralised structures [PAPER].
        augmentation: augmentation magnitudes (ours).
        seed: seed of head init, shuffling and augmentation.
        device: torch device string.
        num_workers: DataLoader workers.
        max_bad_fraction: largest share of items whose image or mask cannot be read that is skipped and counted
            (``bad_files.csv`` of the job); 0 (ours: train and score exactly the datalist unless asked) stops at the
            first one with an error naming the file.
    """

    head: str = "upernet"
    head_kwargs: dict[str, Any] = field(default_factory=dict)
    layer_indices: tuple[int, ...] | None = None
    mask_mode: str = "multiclass"
    loss: str = "dice_ce"
    class_names: list[str] | None = None
    mask_values: list[int] | None = None
    image_size: int | None = None
    fit: str = "resize"
    epochs: int = 100
    batch_size: int = 80
    lr: float = 5e-4
    augment: bool = True
    horizontal_flip: bool = True
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    max_bad_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.max_bad_fraction) <= 1.0:
            raise ValueError(f"SegmentationConfig.max_bad_fraction must lie in [0, 1], found {self.max_bad_fraction}.")
        if self.mask_mode not in MASK_MODES:
            raise ValueError(f"SegmentationConfig.mask_mode={self.mask_mode!r}; valid values: {list(MASK_MODES)}.")
        if self.mask_mode not in SEGMENTATION_LOSSES.get(self.loss, {}):
            valid = [f"{name} ({'/'.join(modes)})" for name, modes in SEGMENTATION_LOSSES.items()]
            raise ValueError(f"SegmentationConfig.loss={self.loss!r} with mask_mode={self.mask_mode!r}; valid losses "
                             f"(mask modes): {valid}.")
        if isinstance(self.augmentation, Mapping):
            self.augmentation = AugmentationConfig(**self.augmentation)
        if self.class_names is None:
            default = {"multiclass": ["background", "foreground"], "multilabel": ["structure_0"]}
            self.class_names = default[self.mask_mode]
        self.class_names = list(self.class_names)

    @property
    def num_classes(self) -> int:
        """Output channels of the head."""
        return len(self.class_names or [])

    @property
    def scored_names(self) -> list[str]:
        """Structures scored by Dice (background excluded for multiclass)."""
        names = list(self.class_names or [])
        return names[1:] if self.mask_mode == "multiclass" else names

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings."""
        return dataclasses.asdict(self)


#: mask mode -> training loss on (logits (B, C, H, W), mask); Dice + CE is our choice.
MASK_LOSSES: dict[str, Callable[[], nn.Module]] = {
    "multiclass": lambda: DiceCELoss(softmax=True, to_onehot_y=True),
    "multilabel": lambda: DiceCELoss(sigmoid=True),
}

#: loss name -> mask mode -> training loss. ``"ecamp_mixed"``: ECAMP's ``MixedLoss(alpha=10)`` on sigmoid logits
#: (``Fine-tuning/Segmentation/train.py``), :class:`~raddino_monai.losses.mixed_focal_dice.MixedFocalDiceLoss`.
SEGMENTATION_LOSSES: dict[str, dict[str, Callable[[], nn.Module]]] = {
    "dice_ce": MASK_LOSSES,
    "ecamp_mixed": {"multilabel": MixedFocalDiceLoss},
}


def _argmax_onehot(logits: torch.Tensor) -> torch.Tensor:
    return F.one_hot(logits.argmax(1), logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].float()


def _threshold(logits: torch.Tensor) -> torch.Tensor:
    return (torch.sigmoid(logits) > 0.5).float()


#: mask mode -> logits (B, C, H, W) -> binary masks of the scored structures (B, C', H, W).
MASK_DECISIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "multiclass": _argmax_onehot,
    "multilabel": _threshold,
}

#: mask mode -> ground-truth mask (B, 1 | C, H, W) -> binary masks of the scored structures.
_TARGET_MASKS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "multiclass": lambda m, c: F.one_hot(m[:, 0].long(), c).permute(0, 3, 1, 2)[:, 1:].float(),
    "multilabel": lambda m, c: (m > 0).float(),
}


def binary_masks(logits: torch.Tensor, mask_mode: str) -> torch.Tensor:
    """Binary masks of the scored structures from logits (argmax one-hot without background, or sigmoid > 0.5)."""
    return MASK_DECISIONS[mask_mode](logits)


def build_segmentation_model(backbone: nn.Module | str, config: SegmentationConfig) -> FrozenSegmentationModel:
    """A :class:`FrozenSegmentationModel` for ``config``, head initialised from ``config.seed``."""
    torch.manual_seed(config.seed)
    return FrozenSegmentationModel(backbone, config.head, config.num_classes, config.layer_indices, config.head_kwargs)


def _with_masks(items: Sequence[Mapping[str, Any]], mask_key: str) -> list[dict[str, Any]]:
    kept = [{"image": it["image"], mask_key: it[mask_key]} for it in items if it.get(mask_key)]
    kept = [{**it, "index": i} for i, it in enumerate(kept)]  # position, to map batches back to items
    if len(kept) < len(items):
        warnings.warn(f"{len(items) - len(kept)} of {len(items)} items have no {mask_key!r}; they are skipped.",
                      stacklevel=3)
    if not kept:
        raise ValueError(f"No item has a {mask_key!r} entry; segmentation needs masks.")
    return kept


def input_size(model: FrozenSegmentationModel, config: SegmentationConfig) -> int:
    """The network input side: ``config.image_size``, else the backbone's ``config.image_size``."""
    return int(config.image_size or model.backbone.config.image_size)


def _loader(
    items: list[dict[str, Any]], config: SegmentationConfig, size: int, augment: bool, shuffle: bool
) -> DataLoader:
    """Batches of ``items`` through the segmentation transforms; unreadable items become bad-file markers
    (:class:`~raddino_monai.data.bad_files.SkipBadFiles`): iterate with :func:`_batches`."""
    transform = segmentation_transforms(
        size, LoadMaskd("mask", config.mask_mode, config.mask_values), config.fit, augment,
        config.horizontal_flip, config.augmentation,
    )
    transform.set_random_state(config.seed)
    # training drops a last partial batch: a batch of 1 breaks BatchNorm on the 1x1 PPM branch
    drop_last = shuffle and len(items) > config.batch_size
    return DataLoader(SkipBadFiles(Dataset(items, transform)), batch_size=config.batch_size, shuffle=shuffle,
                      drop_last=drop_last, num_workers=config.num_workers,
                      generator=torch.Generator().manual_seed(config.seed), collate_fn=SkipBadCollate(list_data_collate))


def _bad_file_log(bad_files: BadFileLog | None, items: Sequence[Any], config: SegmentationConfig) -> BadFileLog:
    return bad_files if bad_files is not None else BadFileLog(len(items), config.max_bad_fraction)


def train_segmentation(
    model: FrozenSegmentationModel,
    items: Sequence[Mapping[str, Any]],
    config: SegmentationConfig,
    log: Callable[[str, float, int], None] | None = None,
    bad_files: BadFileLog | None = None,
) -> list[float]:
    """Train the head of ``model`` (backbone frozen) on items with ``image`` and ``mask``.

    Args:
        model: frozen backbone + head.
        items: training items; items without a mask are skipped with a warning.
        config: settings.
        log: optional scalar sink ``(tag, value, step)``.
        bad_files: where items with an unreadable image or mask are counted (default: a log with
            ``config.max_bad_fraction`` of the items).

    Returns:
        mean loss per epoch.

    Raises:
        TooManyBadFilesError: more than ``max_bad_fraction`` of the items cannot be read.
    """
    kept = _with_masks(items, "mask")
    bad_files = _bad_file_log(bad_files, kept, config)
    loader = _loader(kept, config, input_size(model, config), config.augment, shuffle=True)
    optimizer = functools.partial(torch.optim.Adam, lr=config.lr)
    return train_head(model, lambda epoch: ((b["image"], b["mask"]) for b in batches_without_bad_files(loader,
                                                                                                          bad_files)),
                      SEGMENTATION_LOSSES[config.loss][config.mask_mode](),
                      optimizer, config.epochs, len(loader), 0, config.device, f"train {config.head}", log)


@torch.no_grad()
def evaluate_segmentation(
    model: FrozenSegmentationModel, items: Sequence[Mapping[str, Any]], config: SegmentationConfig,
    bad_files: BadFileLog | None = None,
) -> dict[str, Any]:
    """Dice per image and structure, and mean (std) over images.

    Items whose image or mask cannot be read are skipped and counted in ``bad_files`` (default: a log with
    ``config.max_bad_fraction``); they get no row.

    Returns:
        ``{"per_image": [{"image", "dice/<structure>": ...}], "summary": {"dice/<structure>": (mean, std),
        "dice": (mean, std) of the per-image mean over structures}, "bad_files": the log}``.

    Raises:
        TooManyBadFilesError: more than ``max_bad_fraction`` of the items cannot be read.
    """
    kept = _with_masks(items, "mask")
    bad_files = _bad_file_log(bad_files, kept, config)
    loader = _loader(kept, config, input_size(model, config), augment=False, shuffle=False)
    device = torch.device(config.device)
    model.to(device).eval()
    names, rows = config.scored_names, []
    for batch in tqdm(batches_without_bad_files(loader, bad_files), desc=f"evaluate {config.head}", leave=False):
        logits = model(batch["image"].to(device)).cpu()
        target = _TARGET_MASKS[config.mask_mode](batch["mask"], config.num_classes)
        dice = dice_per_image(binary_masks(logits, config.mask_mode), target)
        for index, row in zip(batch["index"].tolist(), dice.tolist()):
            rows.append({"image": str(kept[index]["image"]),
                         **{f"dice/{n}": v for n, v in zip(names, row)}, "dice": float(np.mean(row))})
    keys = [f"dice/{n}" for n in names] + ["dice"]
    return {"per_image": rows, "summary": {k: mean_std(r[k] for r in rows) for k in keys}, "bad_files": bad_files}


@torch.no_grad()
def segmentation_examples(
    model: FrozenSegmentationModel, items: Sequence[Mapping[str, Any]], config: SegmentationConfig
) -> list[dict[str, Any]]:
    """Network input, ground truth, prediction and Dice of a few items, exactly as :func:`evaluate_segmentation` sees
    them (same transforms, same resolution), for figures (items that cannot be read are skipped within
    ``config.max_bad_fraction``).

    Returns:
        one dict per item with a mask: ``"image"`` path, ``"input"`` ``(3, S, S)`` tensor, ``"target"`` and
        ``"prediction"`` ``(C', S, S)`` binary tensors of the scored structures, ``"dice"`` ``(C',)`` tensor.
    """
    kept = _with_masks(items, "mask")
    device = torch.device(config.device)
    model.to(device).eval()
    out: list[dict[str, Any]] = []
    loader = _loader(kept, config, input_size(model, config), augment=False, shuffle=False)
    for batch in batches_without_bad_files(loader, _bad_file_log(None, kept, config)):
        pred = binary_masks(model(batch["image"].to(device)).cpu(), config.mask_mode)
        target = _TARGET_MASKS[config.mask_mode](batch["mask"], config.num_classes)
        for index, image, t, p, d in zip(batch["index"].tolist(), batch["image"], target, pred,
                                         dice_per_image(pred, target)):
            out.append({"image": str(kept[index]["image"]), "input": convert_to_tensor(image, track_meta=False),
                        "target": t, "prediction": p, "dice": d})
    return out


@torch.no_grad()
def predict_segmentation(
    model: FrozenSegmentationModel,
    images: Sequence[str],
    config: SegmentationConfig,
    output_dir: str | Path,
    write_nifti: bool = False,
    base_dir: str | Path | None = None,
    ids: Sequence[str | None] | None = None,
    bad_files: BadFileLog | None = None,
) -> list[dict[str, str]]:
    """Predict masks at the original image size and write them as PNG (+ overlay PNG, optional NIfTI).

    Images that cannot be read are skipped and counted in ``bad_files`` (default: a log with
    ``config.max_bad_fraction``); they get no files and no record.

    Files are named by :func:`raddino_monai.transforms.output_names` (``<name>`` = the datalist id, else the path
    relative to ``base_dir`` / the inputs' common folder without the image suffix): multiclass ``<name>_seg.png``
    label map (0/255 when binary, class indices otherwise); multilabel one ``<name>_seg_<structure>.png`` per
    structure; ``<name>_overlay.png`` shows every structure in colour.

    Returns:
        one ``{"image", "name", "mask", "overlay"[, "nifti"]}`` dict of written paths per image.

    Raises:
        OutputNameError: two inputs would get the same output name (checked before any prediction).
        TooManyBadFilesError: more than ``max_bad_fraction`` of the images cannot be read.
    """
    names = output_names(images, base_dir, ids)
    bad_files = _bad_file_log(bad_files, images, config)
    out_dir = Path(output_dir)
    transform = segmentation_transforms(input_size(model, config), None, config.fit, augment=False, keep_meta=True)
    invert = Invertd("pred", transform=transform, orig_keys="image", nearest_interp=False)
    device = torch.device(config.device)
    model.to(device).eval()
    written = []
    dataset = SkipBadFiles(Dataset([{"image": str(p)} for p in images], transform))
    for index, (path, stem) in enumerate(tqdm(list(zip(images, names)), desc="predict", leave=False)):
        data = dataset[index]
        if isinstance(data, BadFile):
            bad_files.record([data])
            continue
        data["pred"] = model(data["image"][None].to(device))[0].cpu()
        logits = invert(data)["pred"]
        masks = binary_masks(torch.as_tensor(logits)[None].float(), config.mask_mode)[0].numpy()
        original = np.asarray(_load_original(path))
        rec = {"image": str(path), "name": stem}
        label_map = (np.argmax(np.asarray(logits), 0) if config.mask_mode == "multiclass" else None)
        if label_map is not None:
            rec["mask"] = str(write_mask_png(label_map, out_dir / f"{stem}_seg.png"))
        else:
            for name, m in zip(config.scored_names, masks):
                rec[f"mask/{name}"] = str(write_mask_png(m, out_dir / f"{stem}_seg_{name}.png"))
        rec["overlay"] = str(write_overlay_png(original, masks, out_dir / f"{stem}_overlay.png"))
        if write_nifti:
            rec["nifti"] = str(write_mask_nifti(label_map if label_map is not None else masks,
                                                out_dir / f"{stem}_seg.nii.gz"))
        written.append(rec)
    return written


def _load_original(path: str) -> np.ndarray:
    from raddino_monai.transforms import LoadCXR

    return np.asarray(LoadCXR()(path))[0]

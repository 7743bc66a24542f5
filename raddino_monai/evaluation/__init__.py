"""Frozen-backbone evaluation (RAD-DINO [PAPER] §4): linear probes, metadata probes, segmentation heads, tables.

Import what you need, e.g. ``from raddino_monai.evaluation import LinearProbeConfig, run_linear_probe``.
"""

from __future__ import annotations

from .augment import AugmentationConfig, classification_transforms, segmentation_transforms
from .features import POOLINGS, FrozenEncoder, freeze_backbone, pooled_dim
from .heads import SEGMENTATION_HEADS, LinearHead, UPerNetHead, ViTDetHead, create_head
from .labels import encode_targets, infer_classes
from .linear_probe import (
    LinearProbeConfig,
    extract_features,
    predict_probabilities,
    run_linear_probe,
    train_linear_head,
)
from .masks import LoadMask, LoadMaskd, SaveMaskd
from .metadata_probe import DEFAULT_BIN_EDGES, MetadataProbeConfig, bin_values, probe_attribute, run_metadata_probe
from .metrics import TASKS, classification_metrics, dice_per_image, mean_std, summarise_runs
from .probe_model import ProbeClassifier
from .segmentation import (
    SegmentationConfig,
    build_segmentation_model,
    evaluate_segmentation,
    predict_segmentation,
    segmentation_examples,
    train_segmentation,
)
from .segmentation_model import FrozenSegmentationModel
from .tables import markdown_table, write_results

__all__ = [
    "AugmentationConfig", "classification_transforms", "segmentation_transforms",
    "POOLINGS", "FrozenEncoder", "freeze_backbone", "pooled_dim",
    "SEGMENTATION_HEADS", "LinearHead", "UPerNetHead", "ViTDetHead", "create_head",
    "encode_targets", "infer_classes",
    "LinearProbeConfig", "extract_features", "predict_probabilities", "run_linear_probe", "train_linear_head",
    "LoadMask", "LoadMaskd", "SaveMaskd",
    "DEFAULT_BIN_EDGES", "MetadataProbeConfig", "bin_values", "probe_attribute", "run_metadata_probe",
    "TASKS", "classification_metrics", "dice_per_image", "mean_std", "summarise_runs",
    "ProbeClassifier",
    "SegmentationConfig", "build_segmentation_model", "evaluate_segmentation", "predict_segmentation",
    "segmentation_examples", "train_segmentation",
    "FrozenSegmentationModel",
    "markdown_table", "write_results",
]

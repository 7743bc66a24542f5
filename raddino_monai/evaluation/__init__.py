"""Frozen-backbone evaluation (RAD-DINO [PAPER] §4): linear probes, metadata probes, segmentation heads, zero-shot
retrieval (ConVIRT's Precision@k protocol), tables.

Library functions take items and encoders in memory (``evaluate_linear_probe``, ``evaluate_metadata_probe``,
``train_segmentation`` / ``evaluate_segmentation``); the jobs of :mod:`.runners` (``linear_probe_job`` ...) load them
from paths and encoder specs and write a results folder, for the ``tools/`` CLIs.

Import what you need, e.g. ``from raddino_monai.evaluation import LinearProbeConfig, evaluate_linear_probe``.
"""

from __future__ import annotations

from raddino_monai._compat import moved_names

from .augment import AugmentationConfig, classification_transforms, segmentation_transforms
from .features import POOLINGS, FrozenEncoder, freeze_backbone, pooled_dim
from .heads import SEGMENTATION_HEADS, LinearHead, UPerNetHead, ViTDetHead, create_head
from .labels import encode_targets, infer_classes
from .linear_probe import (
    LinearProbeConfig,
    evaluate_linear_probe,
    extract_features,
    init_linear,
    predict_probabilities,
    train_linear_head,
)
from .metadata_probe import DEFAULT_BIN_EDGES, MetadataProbeConfig, bin_values, evaluate_metadata_probe, probe_attribute
from .metrics import classification_metrics, dice_per_image, mean_std, summarise_runs
from .probe_model import ProbeClassifier
from .retrieval import DEFAULT_KS, RETRIEVAL_DIRECTIONS, evaluate_retrieval, precision_at_k, retrieval_records
from .retrieval_run import (
    RetrievalConfig,
    datalist_retrieval_sets,
    frozen_image_embedder,
    image_retrieval_job,
    read_convirt_retrieval_set,
    run_retrieval,
)
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
from .tasks import PROBE_TASKS, TASKS

__getattr__ = moved_names(__name__)  # LoadMask(d), SaveMaskd -> transforms.masks; run_*_probe -> evaluate_*_probe

__all__ = [
    "AugmentationConfig", "classification_transforms", "segmentation_transforms",
    "POOLINGS", "FrozenEncoder", "freeze_backbone", "pooled_dim",
    "SEGMENTATION_HEADS", "LinearHead", "UPerNetHead", "ViTDetHead", "create_head",
    "encode_targets", "infer_classes",
    "LinearProbeConfig", "evaluate_linear_probe", "init_linear", "predict_probabilities", "train_linear_head",
    "extract_features",
    "DEFAULT_BIN_EDGES", "MetadataProbeConfig", "bin_values", "evaluate_metadata_probe", "probe_attribute",
    "PROBE_TASKS", "TASKS", "classification_metrics", "dice_per_image", "mean_std", "summarise_runs",
    "ProbeClassifier",
    "DEFAULT_KS", "RETRIEVAL_DIRECTIONS", "evaluate_retrieval", "precision_at_k", "retrieval_records",
    "RetrievalConfig", "datalist_retrieval_sets", "frozen_image_embedder", "image_retrieval_job",
    "read_convirt_retrieval_set", "run_retrieval",
    "SegmentationConfig", "build_segmentation_model", "evaluate_segmentation", "predict_segmentation",
    "segmentation_examples", "train_segmentation",
    "FrozenSegmentationModel",
    "markdown_table", "write_results",
]

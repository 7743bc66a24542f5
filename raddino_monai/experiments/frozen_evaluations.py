"""The frozen evaluations of the pretraining comparison, run on held-out patients only (:mod:`.heldout`).

:func:`evaluate_frozen` judges one pretrained encoder on the evaluation part of the patient split with the library's
own evaluations, each inside that part:

* ``linear_probe``: :func:`raddino_monai.evaluation.linear_probe.evaluate_linear_probe` on ``label_key`` (macro AUPRC
  / AUROC), trained on a patient split of the held-out items (``probe_test_fraction`` of their patients score it);
* ``metadata_probe``: :func:`~raddino_monai.evaluation.metadata_probe.evaluate_metadata_probe` (view group, sex,
  age, ...: patient-grouped 5-fold logistic regression, accuracy and AUROC); attributes no item has are left out;
* ``segmentation``: a frozen-backbone head (:func:`~raddino_monai.evaluation.segmentation.train_segmentation`) on the
  held-out items with a ``mask``, Dice on the same patient split as the linear probe (only when masks exist);
* ``retrieval``: image -> image Precision@k (:func:`~raddino_monai.evaluation.retrieval_run.run_retrieval`, leave one
  out over the labelled held-out images, never retrieving the query's own patient); text -> image and image -> text
  too when the method gives projected ``"image"`` and ``"text"`` embedders (ConVIRT), with each held-out report as a
  text query carrying its image's label;
* ``report_generation`` (when ``report_lm`` names a local causal LM): LLaVA stage 1 on a patient split of the held-out
  image + report items (:func:`raddino_monai.report.evidence.score_encoder_reports`: projector trained with the LM
  frozen on the encoder's cached patch tokens), the test reports generated and scored: held-out token loss,
  ROUGE-L, BLEU-4, the rule labeler's macro-F1-14 and micro-F1-5.

Every result is a long-format record ``{"task", "setting", "metric", "value", "n"}``; the comparison adds ``method``
and ``seed``. An evaluation that cannot run (no labels, no masks, too few patients) is listed in ``skipped`` with
the reason instead of silently missing from the table.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from raddino_monai.data.splits import patient_split
from raddino_monai.evaluation.features import FrozenEncoder
from raddino_monai.evaluation.linear_probe import LinearProbeConfig, evaluate_linear_probe
from raddino_monai.evaluation.metadata_probe import MetadataProbeConfig, evaluate_metadata_probe
from raddino_monai.evaluation.retrieval_run import run_retrieval
from raddino_monai.evaluation.runners import config_from_options, load_encoder_backbone, parse_encoder
from raddino_monai.evaluation.segmentation import SegmentationConfig, evaluate_segmentation, train_segmentation
from raddino_monai.evaluation.segmentation import build_segmentation_model
from raddino_monai.experiments.heldout import GROUP_KEY
from raddino_monai.experiments.pretraining_methods import Embedder, PretrainedEncoder
from raddino_monai.experiments.ssl_evidence import probe_items
from raddino_monai.inference.embeddings import embed_images
from raddino_monai.report.evidence import REPORT_SCORES, ReportEvidenceConfig, score_encoder_reports
from raddino_monai.report.features import EncoderReference

__all__ = ["EVALUATIONS", "FrozenEvalConfig", "evaluate_frozen"]

#: evaluation names, in table order
EVALUATIONS: tuple[str, ...] = ("linear_probe", "metadata_probe", "segmentation", "retrieval", "report_generation")


@dataclass
class FrozenEvalConfig:
    """Settings of the frozen evaluations; CPU-scale choices are marked (ours), the rest is each evaluation's own
    config dataclass (override any of its fields through the ``*_options`` mappings)."""

    evaluations: tuple[str, ...] = EVALUATIONS  # subset of EVALUATIONS to run
    eval_image_size: int = 112  # input side of every frozen evaluation (ours: the CPU pretraining side; [PAPER] 518)
    pooling: str = "cls"  # frozen feature ([PAPER] CLS token)
    label_key: str = "label"  # item key of the linear-probe / retrieval label
    label_task: str = "multiclass"  # LinearProbeConfig.task of label_key ("binary", "multiclass", "multilabel")
    probe_test_fraction: float = 0.3  # share of held-out patients scoring the linear probe / segmentation (ours)
    # LinearProbeConfig overrides (ours: cached features, one seed = the run's, all labels; the rest [PAPER])
    linear_probe_options: dict[str, Any] = field(default_factory=lambda: {"augment": False, "label_fractions": (1.0,)})
    metadata_attributes: tuple[str, ...] = ("view_group", "sex", "age")  # probed when some held-out item has them
    metadata_probe_options: dict[str, Any] = field(default_factory=dict)  # MetadataProbeConfig overrides
    # SegmentationConfig overrides (ours, CPU scale: linear head, 20 epochs; [PAPER] UPerNet, 100 epochs, batch 80)
    segmentation_options: dict[str, Any] = field(default_factory=lambda: {"head": "linear", "epochs": 20,
                                                                          "batch_size": 16})
    retrieval_ks: tuple[int, ...] = (5, 10)  # Precision@k ([PAPER-CV] 5, 10, 50; 50 needs > 50 held-out images)
    # local causal LM of report generation (HF folder, .gguf, "smollm2"; tools/report.py build_lm); None: skipped
    report_lm: str | None = None
    # ReportEvidenceConfig overrides (template, epochs, lr, decoding; its defaults are the CPU evidence run's)
    report_options: dict[str, Any] = field(default_factory=dict)
    feature_batch_size: int = 32  # images per forward pass of feature extraction
    device: str = "cpu"  # torch device

    def __post_init__(self) -> None:
        unknown = [e for e in self.evaluations if e not in EVALUATIONS]
        if unknown:
            raise ValueError(f"FrozenEvalConfig.evaluations: unknown {unknown}; valid values are {list(EVALUATIONS)}.")
        self.evaluations = tuple(self.evaluations)
        self.retrieval_ks = tuple(int(k) for k in self.retrieval_ks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings."""
        return asdict(self)


def _record(task: str, setting: str, metric: str, value: float, n: int) -> dict[str, Any]:
    return {"task": task, "setting": setting, "metric": metric, "value": float(value), "n": int(n)}


def _labelled(items: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    return [dict(it) for it in items if it.get(key) not in (None, "", [])]


def _probe_split(items: Sequence[Mapping[str, Any]], config: FrozenEvalConfig,
                 seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    parts = patient_split(items, {"training": 1 - config.probe_test_fraction, "test": config.probe_test_fraction},
                          seed=seed, patient_key=GROUP_KEY)
    return parts["training"], parts["test"]


def _linear_probe(backbone: Any, items: list[dict[str, Any]], config: FrozenEvalConfig, seed: int,
                  skipped: dict[str, str]) -> list[dict[str, Any]]:
    labelled = _labelled(items, config.label_key)
    if len({it[GROUP_KEY] for it in labelled}) < 2:
        skipped["linear_probe"] = f"fewer than 2 held-out patients with {config.label_key!r}"
        return []
    train, test = _probe_split(labelled, config, seed)
    options = {"task": config.label_task, "label_key": config.label_key, "pooling": config.pooling,
               "image_size": config.eval_image_size, "seeds": (seed,), "device": config.device,
               "feature_batch_size": config.feature_batch_size, **config.linear_probe_options}
    probe = config_from_options(LinearProbeConfig, options)
    result = evaluate_linear_probe(FrozenEncoder(backbone, probe.pooling, probe.n_last_blocks), train, test, probe)
    return [_record("linear_probe", f"{config.label_key}, {fraction:.0%} of labels", metric,
                    result["summary"][fraction][metric][0], len(test))
            for fraction in probe.label_fractions for metric in ("auprc", "auroc")]


def _metadata_probe(features: np.ndarray, items: list[dict[str, Any]], config: FrozenEvalConfig, seed: int,
                    skipped: dict[str, str]) -> list[dict[str, Any]]:
    rows = [{**it, **{k: v for k, v in probe.items() if k != "patient_id"}}
            for it, probe in zip(items, probe_items(items, GROUP_KEY))]  # view_group from DICOM-style view
    present = tuple(a for a in config.metadata_attributes if any(r.get(a) not in (None, "") for r in rows))
    for attribute in config.metadata_attributes:
        if attribute not in present:
            skipped[f"metadata_probe/{attribute}"] = f"no held-out item has {attribute!r}"
    if not present:
        return []
    probe = config_from_options(MetadataProbeConfig, {"attributes": present, "seed": seed, "patient_key": GROUP_KEY,
                                                      **config.metadata_probe_options})
    records = []
    for result in evaluate_metadata_probe(features, rows, probe):
        if "skipped" in result:
            skipped[f"metadata_probe/{result['attribute']}"] = result["skipped"]
            continue
        records += [_record("metadata_probe", result["attribute"], "accuracy", result["mean"], result["n_images"]),
                    _record("metadata_probe", result["attribute"], "auroc", result["auroc_mean"], result["n_images"])]
    return records


def _segmentation(backbone: Any, items: list[dict[str, Any]], config: FrozenEvalConfig, seed: int,
                  skipped: dict[str, str]) -> list[dict[str, Any]]:
    masked = [it for it in items if it.get("mask")]
    if len({it[GROUP_KEY] for it in masked}) < 2:
        skipped["segmentation"] = "fewer than 2 held-out patients with a 'mask'"
        return []
    train, test = _probe_split(masked, config, seed)
    seg = config_from_options(SegmentationConfig, {"image_size": config.eval_image_size, "seed": seed,
                                                   "device": config.device, **config.segmentation_options})
    model = build_segmentation_model(backbone, seg)
    train_segmentation(model, train, seg)
    result = evaluate_segmentation(model, test, seg)
    return [_record("segmentation", seg.head, "dice", result["summary"]["dice"][0], len(test))]


def _eligible(groups: Sequence[str]) -> int:
    """Fewest candidates a leave-one-out query may retrieve (all but its own patient's images)."""
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    return len(groups) - max(counts.values())


def _retrieval(features: np.ndarray, items: list[dict[str, Any]], embedders: Mapping[str, Embedder],
               config: FrozenEvalConfig, skipped: dict[str, str]) -> list[dict[str, Any]]:
    index = {str(it["image"]): i for i, it in enumerate(items)}
    labelled = [{**it, "id": str(it["image"]), "label": it[config.label_key]}
                for it in _labelled(items, config.label_key)]
    ks = [k for k in config.retrieval_ks if k <= _eligible([it[GROUP_KEY] for it in labelled])] if labelled else []
    if not ks:
        skipped["retrieval"] = (f"too few held-out images with {config.label_key!r} from other patients for "
                                f"Precision@{list(config.retrieval_ks)}")
        return []
    directions = {"image_to_image": {"image": lambda batch: features[[index[str(b["image"])] for b in batch]]}}
    texts = [{**it, "id": f"report:{it['id']}", "text": str(it["report"])} for it in labelled if it.get("report")]
    if {"image", "text"} <= set(embedders) and texts:
        directions.update(text_to_image=dict(embedders), image_to_text=dict(embedders))
    elif "text" in embedders:
        skipped["retrieval/text"] = "no held-out labelled item has a 'report'"
    records = []
    for direction, used in directions.items():
        queries, candidates = {"image_to_image": (labelled, labelled), "text_to_image": (texts, labelled),
                               "image_to_text": (labelled, texts)}[direction]
        result = run_retrieval(queries, candidates, direction, used, ks, exclude_same_patient=True)
        records += [_record("retrieval", direction, f"precision@{k}", v, result["n_queries"])
                    for k, v in result["precision"].items()]
    return records


def _report_generation(encoder: PretrainedEncoder, items: list[dict[str, Any]], config: FrozenEvalConfig, seed: int,
                       work_dir: str | Path | None, skipped: dict[str, str]) -> list[dict[str, Any]]:
    if not config.report_lm:
        skipped["report_generation"] = "no report_lm given (a local causal LM: HF folder, .gguf or 'smollm2')"
        return []
    paired = [it for it in items if str(it.get("report") or "").strip()]
    if len({it[GROUP_KEY] for it in paired}) < 2:
        skipped["report_generation"] = "fewer than 2 held-out patients with a 'report'"
        return []
    _, arch, weights = parse_encoder(encoder.spec)
    options = {"lm": config.report_lm, "encoder_arch": arch, "image_size": config.eval_image_size, "seed": seed,
               "test_fraction": config.probe_test_fraction, **config.report_options}
    report_config = config_from_options(ReportEvidenceConfig, options)
    reference = EncoderReference(arch, weights, seed, report_config.image_size)
    # the folder's features, projector and predictions are reused by a rerun: only for the same settings and encoder
    digest = hashlib.sha256(json.dumps([asdict(report_config), encoder.spec], sort_keys=True, default=str)
                            .encode()).hexdigest()[:12]
    with tempfile.TemporaryDirectory() if work_dir is None else nullcontext(work_dir) as folder:
        out = Path(folder) / f"report_generation_{digest}"
        result = score_encoder_reports(paired, reference, out, report_config, patient_key=GROUP_KEY)
    return [_record("report_generation", "lm frozen, projector", key, result[key], result["n_test"])
            for key in REPORT_SCORES]


def evaluate_frozen(encoder: PretrainedEncoder, items: Sequence[Mapping[str, Any]], config: FrozenEvalConfig,
                    seed: int = 0, work_dir: str | Path | None = None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Run the configured evaluations of one encoder on held-out items.

    Args:
        encoder: the method's output (spec; optional ``embedders`` for text retrieval).
        items: held-out evaluation items (with :data:`~raddino_monai.experiments.heldout.GROUP_KEY`; ``label_key``,
            metadata, ``mask``, ``report`` where available).
        config: settings.
        seed: seed of the probe splits, folds and heads (the same for every method of a run: paired comparison).
        work_dir: where an evaluation that trains a model keeps it (report generation: features, projector,
            predictions in ``report_generation_<settings digest>/``); ``None``: a temporary folder.

    Returns:
        ``(records, skipped)``: long-format records (module docstring) and ``{evaluation: reason}``.
    """
    items = [dict(it) for it in items]
    backbone = load_encoder_backbone(encoder.spec, init_seed=seed)
    skipped: dict[str, str] = {}
    records: list[dict[str, Any]] = []
    features = np.empty((0, 0))
    if {"metadata_probe", "retrieval"} & set(config.evaluations):
        features = embed_images(backbone, [str(it["image"]) for it in items], pooling=[config.pooling],
                                image_size=config.eval_image_size, batch_size=config.feature_batch_size,
                                device=config.device, desc="held-out features")[config.pooling]
    if "linear_probe" in config.evaluations:
        records += _linear_probe(backbone, items, config, seed, skipped)
    if "metadata_probe" in config.evaluations:
        records += _metadata_probe(features, items, config, seed, skipped)
    if "segmentation" in config.evaluations:
        records += _segmentation(backbone, items, config, seed, skipped)
    if "retrieval" in config.evaluations:
        records += _retrieval(features, items, encoder.embedders, config, skipped)
    if "report_generation" in config.evaluations:
        records += _report_generation(encoder, items, config, seed, work_dir, skipped)
    return records, skipped

"""Does the image reach the report? A small CPU comparison of encoders for LLaVA-style generation (issue 13, item 8).

On image-report pairs split by patient, the same frozen LM (default: the packaged SmolLM2-135M-Instruct) gets a
projector trained (LLaVA stage 1: LM frozen, projector only) on the tokens of

* ``ssl``: an SSL-pretrained encoder (e.g. the teacher of ``tools/ssl_evidence.py``),
* ``random``: the same architecture at random init (seeded),
* ``blank``: all-zero features of the same shape: the projector can only learn a constant soft prompt, so this is
  the same capacity with no image information,

and ``text_only`` is the frozen LM with the prompt minus the image token (zero-shot; nothing to train). For every
variant it writes ``<variant>/predictions.csv`` (``id,report`` on the test split), the saved model, the training
loss curve, the held-out teacher-forced token loss (mean NLL of the reference reports) and simple properties of the
generated texts (distinct reports, mean words), plus ``references.csv``; the report metrics (ROUGE-L, BLEU-4,
CheXpert F1) are computed from these CSVs by the metrics tool. ``results.json`` holds everything measured.

:func:`covid_report_items` turns ``ieee8023/covid-chestxray-dataset`` (``images_index.csv`` + ``metadata.csv``) into
items whose ``report`` is the case's ``clinical_notes`` (free-text case descriptions, not radiology findings).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raddino_monai.data.splits import patient_split
from raddino_monai.evaluation.report.evaluate import ReportMetricsConfig, evaluate_reports
from raddino_monai.report.config import ReportGenerationConfig, ReportModelConfig, ReportTrainConfig
from raddino_monai.report.data import ReportCollate, ReportPairs
from raddino_monai.report.features import EncoderReference, cache_features, load_feature_tokens
from raddino_monai.report.generate import generate_reports, read_reports, write_reports
from raddino_monai.report.lm import load_causal_lm
from raddino_monai.report.model import ReportGenerator, autocast_context
from raddino_monai.report.saving import load_report_model
from raddino_monai.report.train import train_report_model

__all__ = ["VARIANTS", "ReportEvidenceConfig", "covid_report_items", "mean_token_loss", "text_summary",
           "write_split_datalists", "report_evidence", "score_encoder_reports", "REPORT_SCORES"]

VARIANTS = ("ssl", "random", "blank", "text_only")


@dataclass
class ReportEvidenceConfig:
    """Settings of the CPU evidence run; deviations from [PAPER] are marked (they keep a run under ~1 h on 2 cores).

    Args:
        lm: LM spec (``"smollm2"``: SmolLM2-135M-Instruct, 4-bit GGUF; [PAPER] uses Vicuna-7B v1.5).
        template: ``"chat"`` (SmolLM2's own chat format; [PAPER]/LLaVA: ``vicuna_v1``).
        encoder_arch: backbone name (tiny ViT, patch 16; [PAPER] ViT-B/14).
        image_size: input side (112 px -> 7 x 7 = 49 tokens, the SSL evidence's crop size; [PAPER] 518 -> 1369).
        model_max_length: sequence budget; with 49 image tokens and a ~45-token prompt it leaves ~130 report
            tokens (ours; [LLaVA] 2048).
        epochs: 3 [PAPER].
        global_batch_size: 16 (ours; [PAPER] 128 needs ~16x more pairs than the ~300 here for enough steps).
        micro_batch_size: 8.
        projector_lr: 1e-3 ([LLaVA] stage-1 pretrain.sh); warm-up 3 % and cosine as [PAPER].
        precision: ``"bf16"`` autocast.
        max_new_tokens: 96 (ours; [PAPER] 150; the notes have a median of ~51 words).
        generation_batch_size: images per ``generate`` call.
        seed: patient split, random-init encoder, data order.
        test_fraction: share of patients in the test split.
        threads: torch threads (1 is faster than 2 for these small ops on a loaded 2-core machine).
    """

    lm: str = "smollm2"
    template: str = "chat"
    encoder_arch: str = "tiny_vit_p16"
    image_size: int = 112
    model_max_length: int = 224
    epochs: int = 3
    global_batch_size: int = 16
    micro_batch_size: int = 8
    projector_lr: float = 1e-3
    precision: str = "bf16"
    max_new_tokens: int = 96
    generation_batch_size: int = 16
    seed: int = 0
    test_fraction: float = 0.2
    threads: int = 1


def covid_report_items(root: str | Path) -> list[dict[str, Any]]:
    """Items ``{"image", "id", "patient_id", "sex", "view", "report"}`` of the covid-chestxray copy in ``root``.

    Args:
        root: folder with ``images_index.csv`` (filename -> png, patient, sex, view) and the original
            ``metadata.csv`` (``clinical_notes``).

    Returns:
        every indexed image; ``report`` is its ``clinical_notes`` or ``None``.

    Raises:
        FileNotFoundError: a CSV is missing (named).
    """
    root = Path(root)
    for name in ("images_index.csv", "metadata.csv"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root / name} not found (expected a covid-chestxray-dataset copy).")
    with open(root / "metadata.csv", newline="", encoding="utf-8") as f:
        notes = {r["filename"]: (r.get("clinical_notes") or "").strip() for r in csv.DictReader(f)}
    items = []
    with open(root / "images_index.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            items.append({"image": str(root / row["png"]), "id": Path(row["png"]).stem,
                          "patient_id": row["patientid"], "sex": row["sex"] or None, "view": row["view"] or None,
                          "report": notes.get(row["filename"]) or None})
    return items


@torch.no_grad()
def mean_token_loss(model: ReportGenerator, items: Sequence[Mapping[str, Any]], batch_size: int = 16,
                    precision: str = "fp32") -> float:
    """Teacher-forced mean next-token cross-entropy of the items' reports (the held-out loss)."""
    collate = ReportCollate(model.tokenizer, model.config)
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(items), batch_size):
        batch = collate(ReportPairs(items[start : start + batch_size]).items)
        with autocast_context(precision, model.device):
            total += float(model.loss(batch["features"].to(model.device), batch["input_ids"].to(model.device),
                                      batch["attention_mask"].to(model.device), batch["labels"].to(model.device)))
        count += int((batch["labels"] != -100).sum())
    return total / max(1, count)


def text_summary(rows: Sequence[Mapping[str, str]]) -> dict[str, float]:
    """Distinct reports, distinct share and mean words of generated texts."""
    texts = [r["report"] for r in rows]
    return {"n": len(texts), "distinct": len(set(texts)), "distinct_share": len(set(texts)) / max(1, len(texts)),
            "mean_words": float(np.mean([len(t.split()) for t in texts])) if texts else 0.0}


def _split(items: list[dict[str, Any]], config: ReportEvidenceConfig,
           patient_key: str = "patient_id") -> tuple[list[dict], list[dict]]:
    paired = [it for it in items if it.get("report")]
    parts = patient_split(paired, {"training": 1 - config.test_fraction, "test": config.test_fraction},
                          seed=config.seed, patient_key=patient_key)
    return parts["training"], parts["test"]


def _with_features(items: list[dict], ids: list[str], tokens: np.ndarray) -> list[dict]:
    rows = {i: n for n, i in enumerate(ids)}
    return [{"id": it["id"], "features": tokens[rows[it["id"]]], "report": it["report"]} for it in items]


def _configs(config: ReportEvidenceConfig, image_tokens: bool) -> tuple[ReportModelConfig, ReportTrainConfig]:
    model = ReportModelConfig(template=config.template, model_max_length=config.model_max_length,
                              image_tokens=image_tokens)
    train = ReportTrainConfig(mode="projector", epochs=config.epochs, global_batch_size=config.global_batch_size,
                              micro_batch_size=config.micro_batch_size, projector_lr=config.projector_lr,
                              precision=config.precision, seed=config.seed, save_interval=10)
    return model, train


def _loss_curve(run: Path) -> list[float]:
    """``loss/loss`` per step from the run's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not (run / "tb").is_dir():
        return []
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    return [e.value for e in events.Scalars("loss/loss")] if "loss/loss" in events.Tags()["scalars"] else []


def _variant_pairs(
    variant: str, train_items: list[dict], test_items: list[dict], out: Path, encoder: EncoderReference
) -> tuple[list[dict], list[dict]]:
    """Training and test pairs with the variant's features (features are extracted once per encoder)."""
    if variant == "text_only":
        zeros = np.zeros((len(train_items) + len(test_items), 1, 1), np.float32)
        ids = [it["id"] for it in train_items + test_items]
        return _with_features(train_items, ids, zeros), _with_features(test_items, ids, zeros)
    feats = out / f"features_{'random' if variant == 'blank' else variant}.npz"
    if not feats.exists():
        cache_features([it["image"] for it in train_items + test_items], feats, encoder, progress=False)
    paths, tokens = load_feature_tokens(feats, use_cls=False)
    ids = [Path(p).stem for p in paths]
    if variant == "blank":  # same shape, no image information
        tokens = np.zeros_like(tokens)
    return _with_features(train_items, ids, tokens), _with_features(test_items, ids, tokens)


def _variant_model(
    variant: str, lm: Any, tokenizer: Any, train: list[dict], run: Path, config: ReportEvidenceConfig,
    encoder: EncoderReference,
) -> ReportGenerator:
    """The variant's model: zero-shot for ``text_only``, else a projector trained (or reloaded when finished)."""
    image_tokens = variant != "text_only"
    model_config, train_config = _configs(config, image_tokens)
    dim = int(np.shape(train[0]["features"])[-1])
    model = ReportGenerator(lm, tokenizer, dim, model_config, lm_source=config.lm,
                            encoder_ref=encoder if image_tokens else None)
    if not image_tokens:
        return model
    if (run / "model").exists():
        trained = load_report_model(run / "model")
        model.projector.load_state_dict(trained.projector.state_dict())
        return model
    train_report_model(model, train, run, train_config, progress=False)
    return model


def write_split_datalists(items: list[dict[str, Any]], out_dir: str | Path,
                          config: ReportEvidenceConfig | None = None) -> dict[str, Path]:
    """Write the patient split as datalists: ``report_datalist.json`` (``training`` / ``test`` sections, with
    reports) and ``ssl_datalist.json`` (training images only, for ``tools/ssl_evidence.py``: the SSL encoder never
    sees a test image)."""
    config = config or ReportEvidenceConfig()
    train, test = _split(items, config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / "report_datalist.json", "ssl": out / "ssl_datalist.json"}
    paths["report"].write_text(json.dumps({"training": train, "test": test}, indent=1))
    paths["ssl"].write_text(json.dumps({"training": train}, indent=1))
    return paths


def report_evidence(
    items: list[dict[str, Any]],
    output_dir: str | Path,
    ssl_weights: str | None,
    config: ReportEvidenceConfig | None = None,
    variants: Sequence[str] = VARIANTS,
) -> dict[str, Any]:
    """Run the comparison (see the module docstring) and write ``results.json``.

    Args:
        items: ``{"image", "id", "patient_id", "report"}`` (items without a report are dropped).
        output_dir: run folder (one sub-folder per variant; a rerun reuses finished models and predictions).
        ssl_weights: HF folder / checkpoint of the SSL encoder (needed for the ``ssl`` variant).
        config: run settings.
        variants: subset of :data:`VARIANTS`.

    Returns:
        the results dict.

    Raises:
        ValueError: unknown variants, or ``ssl`` without ``ssl_weights``.
    """
    config = config or ReportEvidenceConfig()
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or ("ssl" in variants and not ssl_weights):
        raise ValueError(f"variants must be a subset of {list(VARIANTS)} (found {unknown}); 'ssl' needs ssl_weights.")
    torch.set_num_threads(config.threads)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_items, test_items = _split(items, config)
    refs = out / "references.csv"
    if not refs.exists():
        write_reports(refs, [{"id": it["id"], "report": it["report"]} for it in test_items])
    results: dict[str, Any] = {
        "config": dataclasses.asdict(config), "n_train": len(train_items), "n_test": len(test_items),
        "n_train_patients": len({i["patient_id"] for i in train_items}),
        "n_test_patients": len({i["patient_id"] for i in test_items}), "variants": {},
        "references": text_summary(read_reports(refs)),
    }
    generation = ReportGenerationConfig(max_new_tokens=config.max_new_tokens, batch_size=config.generation_batch_size,
                                        precision=config.precision)
    encoders = {"ssl": EncoderReference(config.encoder_arch, ssl_weights, config.seed, config.image_size),
                "random": EncoderReference(config.encoder_arch, None, config.seed, config.image_size)}
    lm, tokenizer = load_causal_lm(config.lm)  # frozen in every variant (projector-only training)
    for variant in variants:
        run = out / variant
        run.mkdir(exist_ok=True)
        encoder = encoders.get(variant, encoders["random"])
        t0 = time.perf_counter()
        train, test = _variant_pairs(variant, train_items, test_items, out, encoder)
        model = _variant_model(variant, lm, tokenizer, train, run, config, encoder)
        record: dict[str, Any] = {"train_seconds": time.perf_counter() - t0, "train_loss_curve": _loss_curve(run)}
        record["heldout_token_loss"] = mean_token_loss(model, test, precision=config.precision)
        record["train_token_loss"] = mean_token_loss(model, train, precision=config.precision)
        t1 = time.perf_counter()
        pred = run / "predictions.csv"
        if not pred.exists():
            tokens = np.stack([it["features"] for it in test]) if variant != "text_only" else None
            generate_reports(model, [it["id"] for it in test], tokens, pred, generation, progress=False)
        record["generate_seconds"] = time.perf_counter() - t1
        record["generated"] = text_summary(read_reports(pred))
        results["variants"][variant] = record
        (out / "results.json").write_text(json.dumps(results, indent=2))
        print(f"{variant}: {json.dumps({k: v for k, v in record.items() if k != 'train_loss_curve'})}", flush=True)
    return results


#: metrics of :func:`score_encoder_reports`: output key -> entry of :func:`evaluate_reports` (``None``: measured here)
REPORT_SCORES: dict[str, str | None] = {
    "heldout_token_loss": None, "rouge_l": "rouge_l", "bleu4": "bleu4",
    "macro_f1_14": "chexpert_rules/macro_f1_14", "micro_f1_5": "chexpert_rules/micro_f1_5",
}


def score_encoder_reports(
    items: Sequence[Mapping[str, Any]],
    encoder: EncoderReference,
    output_dir: str | Path,
    config: ReportEvidenceConfig | None = None,
    patient_key: str = "patient_id",
    metrics: ReportMetricsConfig | None = None,
) -> dict[str, Any]:
    """Report generation as a frozen evaluation of one encoder: LLaVA stage 1 on a patient split of ``items``.

    The image + ``report`` items are split by ``patient_key`` (``config.test_fraction``, ``config.seed``); the
    encoder's patch tokens are cached; a projector is trained with ``config.lm`` frozen (as the ``ssl`` /
    ``random`` variants of :func:`report_evidence`); the test reports are generated and scored.

    Args:
        items: image + report items (items without a report are left out); ``id`` = the image file stem.
        encoder: the frozen encoder (architecture, weights, init seed, input side).
        output_dir: features, checkpoints, ``model/``, ``predictions.csv``, ``references.csv`` (a rerun reuses them).
        config: LM, template, training and decoding settings (:class:`ReportEvidenceConfig`).
        patient_key: item key of the patient.
        metrics: metric options (default: [PAPER] Table 5's protocol, no CheXbert / RadGraph).

    Returns:
        ``{"n_train", "n_test", "generated"}`` plus each :data:`REPORT_SCORES` key: the held-out teacher-forced
        token loss, ROUGE-L and BLEU-4 (percent) and the rule labeler's macro-F1-14 / micro-F1-5 on the full test set.

    Raises:
        ValueError: fewer than 2 patients with a report.
    """
    config = config or ReportEvidenceConfig()
    paired = [{**it, "id": Path(str(it["image"])).stem} for it in items if str(it.get("report") or "").strip()]
    if len({it.get(patient_key) for it in paired}) < 2:
        raise ValueError(f"report generation needs image + 'report' items of at least 2 patients ({patient_key!r}); "
                         f"found {len(paired)} items.")
    train_items, test_items = _split(paired, config, patient_key)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    refs = out / "references.csv"
    if not refs.exists():
        write_reports(refs, [{"id": it["id"], "report": it["report"]} for it in test_items])
    lm, tokenizer = load_causal_lm(config.lm)
    train, test = _variant_pairs("encoder", train_items, test_items, out, encoder)
    model = _variant_model("encoder", lm, tokenizer, train, out / "run", config, encoder)
    pred = out / "predictions.csv"
    if not pred.exists():
        generation = ReportGenerationConfig(max_new_tokens=config.max_new_tokens,
                                            batch_size=config.generation_batch_size, precision=config.precision)
        generate_reports(model, [it["id"] for it in test], np.stack([it["features"] for it in test]), pred,
                         generation, progress=False)
    rows = read_reports(pred)
    predicted = {r["id"]: r["report"] for r in rows}
    scores = evaluate_reports([predicted[it["id"]] for it in test_items], [it["report"] for it in test_items],
                              metrics or ReportMetricsConfig())["metrics"]
    result: dict[str, Any] = {"n_train": len(train_items), "n_test": len(test_items), "generated": text_summary(rows),
                              "heldout_token_loss": mean_token_loss(model, test, precision=config.precision)}
    result.update({key: float(scores[entry]["value"]) for key, entry in REPORT_SCORES.items() if entry})
    return result

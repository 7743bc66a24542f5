"""Path-level report generation workflows behind ``tools/report.py``: datalist in, model folder / report file out.

* :func:`train_from_datalist`: the datalist's ``image`` + ``report`` items -> encoder features extracted once
  (``<output_dir>/features.npz``, resumable, reused by later runs) ->
  :func:`~raddino_monai.report.train.train_report_model` -> ``<output_dir>/model``.
* :func:`generate_from_inputs`: a saved model + images (datalist, folder or list) -> features (extracted with the
  model's own encoder reference unless a feature file is given) -> ``id,report`` CSV / JSON.
* :func:`write_reference_reports`: the datalist's own reports as ``id,report`` rows, the references the report
  metrics compare generated reports with.

Ids are those of :func:`raddino_monai.inference.resolve_inputs`: a datalist item's ``id`` if it has one, else its
image path relative to the datalist folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from raddino_monai.data.datalist import load_datalist
from raddino_monai.inference import resolve_inputs
from raddino_monai.report.config import ReportGenerationConfig, ReportModelConfig, ReportTrainConfig
from raddino_monai.report.data import pair_features_with_reports
from raddino_monai.report.features import EncoderReference, cache_features, load_feature_tokens
from raddino_monai.report.generate import check_report_path, generate_reports, write_reports
from raddino_monai.report.lm import load_causal_lm
from raddino_monai.report.model import ReportGenerator
from raddino_monai.report.saving import load_projector_into, load_report_model
from raddino_monai.report.train import train_report_model

__all__ = ["datalist_reports", "features_for", "train_from_datalist", "generate_from_inputs",
           "write_reference_reports"]

logger = logging.getLogger(__name__)


def datalist_reports(
    datalist: str | Path, split: str | Sequence[str] | None = None, report_key: str = "report"
) -> dict[str, str]:
    """``{id: report}`` of a datalist's items (items without a report map to ``""``).

    Raises:
        KeyError: no item has ``report_key`` (the keys found are listed).
    """
    ids, _ = resolve_inputs(datalist, split)
    items = load_datalist(datalist, split=split)
    if not any(it.get(report_key) for it in items):
        found = sorted({k for it in items for k in it})
        raise KeyError(f"{datalist}: no item has a {report_key!r} text (keys found: {found}).")
    return {i: str(it.get(report_key) or "") for i, it in zip(ids, items)}


def features_for(
    inputs: str | Path | Sequence[str | Path],
    path: str | Path,
    encoder: EncoderReference,
    use_cls: bool,
    *,
    split: str | Sequence[str] | None = None,
    batch_size: int = 16,
    bf16: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Projector tokens of ``inputs``: read from ``path`` if it holds every id, else extracted into it first.

    Raises:
        ValueError: ``path`` exists but lacks some of the ids (it belongs to other images: name a new file).
    """
    wanted, _ = resolve_inputs(inputs, split)
    path = Path(path)
    if not path.is_file():
        cache_features(inputs, path, encoder, batch_size=batch_size, bf16=bf16, split=split, device=device,
                       progress=progress)
    ids, tokens = load_feature_tokens(path, use_cls)
    rows = {i: n for n, i in enumerate(ids)}
    missing = [i for i in wanted if i not in rows]
    if missing:
        raise ValueError(f"{path} lacks features for {len(missing)} of the images, e.g. {missing[:3]}; it was made "
                         "for other images: remove it or name another feature file.")
    return wanted, tokens[[rows[i] for i in wanted]]


def train_from_datalist(
    datalist: str | Path,
    lm: str,
    output_dir: str | Path,
    *,
    encoder: EncoderReference | None = None,
    model_config: ReportModelConfig | None = None,
    train_config: ReportTrainConfig | None = None,
    split: str | Sequence[str] | None = "training",
    features: str | Path | None = None,
    report_key: str = "report",
    init_projector: str | Path | None = None,
    extract_batch_size: int = 16,
    extract_bf16: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Path:
    """Train a report model on a datalist's image-report pairs.

    Args:
        datalist: JSON/CSV datalist with ``image`` and ``report`` (docs/datalist.md).
        lm: local LM spec (HF folder, ``.gguf`` file or ``"smollm2"``).
        output_dir: run folder (features, checkpoints, TensorBoard, ``model/``).
        encoder: the frozen encoder (default :class:`EncoderReference`: RAD-DINO ViT-B/14 at random init; give
            ``weights`` for real features).
        model_config: projector / prompt / template / length settings.
        train_config: training settings (default: [PAPER]'s full fine-tune).
        split: datalist section(s) to train on (``None`` = all items).
        features: feature file to use or create (default ``<output_dir>/features.npz``).
        report_key: datalist key of the report text.
        init_projector: a saved model whose projector this run starts from: stage 2 (``mode`` ``lora`` / ``full``)
            after a stage-1 ``projector`` run (:func:`~raddino_monai.report.saving.load_projector_into`);
            ``None`` = a fresh seeded projector.
        extract_batch_size: images per encoder pass.
        extract_bf16: bfloat16 encoder.
        device: torch device.
        progress: progress bars.

    Returns:
        the saved model folder ``<output_dir>/model``.

    Example::

        >>> stage1 = train_from_datalist(d, "smollm2", "runs/s1", train_config=ReportTrainConfig(mode="projector"))
        >>> train_from_datalist(d, "smollm2", "runs/s2", train_config=ReportTrainConfig(mode="lora"),
        ...                     init_projector=stage1)  # doctest: +SKIP
    """
    encoder = encoder or EncoderReference()
    model_config = model_config or ReportModelConfig()
    output_dir = Path(output_dir)
    reports = datalist_reports(datalist, split, report_key)
    if model_config.image_tokens:
        ids, tokens = features_for(datalist, features or output_dir / "features.npz", encoder, model_config.use_cls,
                                   split=split, batch_size=extract_batch_size, bf16=extract_bf16, device=device,
                                   progress=progress)
    else:  # text-only baseline: no image information reaches the LM
        ids = list(reports)
        tokens = np.zeros((len(ids), 1, 1), dtype=np.float32)
    items = pair_features_with_reports(ids, tokens, reports)
    language_model, tokenizer = load_causal_lm(lm)
    model = ReportGenerator(language_model, tokenizer, int(tokens.shape[-1]), model_config, lm_source=lm,
                            encoder_ref=encoder)
    if init_projector is not None:
        load_projector_into(model, init_projector)
    return train_report_model(model, items, output_dir, train_config, device=device, progress=progress)


def generate_from_inputs(
    model_dir: str | Path,
    inputs: str | Path | Sequence[str | Path],
    out_path: str | Path,
    *,
    config: ReportGenerationConfig | None = None,
    split: str | Sequence[str] | None = None,
    features: str | Path | None = None,
    encoder_weights: str | None = None,
    lm: str | None = None,
    extract_batch_size: int = 16,
    extract_bf16: bool = False,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Generate a report per image with a saved model and write ``id,report`` rows.

    Args:
        model_dir: folder from :func:`train_from_datalist` / ``save_report_model``.
        inputs: datalist, image folder or list of images.
        out_path: ``.csv`` or ``.json`` output (never overwritten unless ``overwrite``).
        config: decoding settings.
        split: datalist section(s).
        features: feature file to use or create (default ``<out_path stem>.features.npz`` next to the output).
        encoder_weights: override the saved encoder reference's weights.
        lm: override the saved base-LM spec.
        extract_batch_size: images per encoder pass.
        extract_bf16: bfloat16 encoder.
        device: torch device.
        overwrite: replace an existing output.
        progress: progress bars.

    Returns:
        ``out_path``.
    """
    out_path = check_report_path(out_path, overwrite)
    model = load_report_model(model_dir, encoder_weights=encoder_weights, lm=lm, device=device)
    if model.config.image_tokens:
        if model.encoder_ref is None:
            raise ValueError(f"{model_dir}: saved without an encoder reference; pass a feature file (features=...).")
        feature_file = features or out_path.with_name(out_path.stem + ".features.npz")
        ids, tokens = features_for(inputs, feature_file, model.encoder_ref, model.config.use_cls, split=split,
                                   batch_size=extract_batch_size, bf16=extract_bf16, device=device, progress=progress)
    else:
        ids, tokens = resolve_inputs(inputs, split)[0], None
    return generate_reports(model, ids, tokens, out_path, config, overwrite=overwrite, progress=progress)


def write_reference_reports(
    datalist: str | Path,
    out_path: str | Path,
    *,
    split: str | Sequence[str] | None = None,
    report_key: str = "report",
    overwrite: bool = False,
) -> Path:
    """The datalist's reports as ``id,report`` rows (items without a report are skipped and counted in the log)."""
    reports = datalist_reports(datalist, split, report_key)
    rows = [{"id": i, "report": r} for i, r in reports.items() if r.strip()]
    if len(rows) < len(reports):
        logger.warning("write_reference_reports: %d of %d items have no report", len(reports) - len(rows),
                       len(reports))
    return write_reports(out_path, rows, overwrite=overwrite)

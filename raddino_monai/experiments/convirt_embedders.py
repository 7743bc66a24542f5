"""A trained ConVIRT run as retrieval embedders: projected image (``v``) and text (``u``) embeddings.

Text -> image and image -> text retrieval ([PAPER-CV] §4, zero-shot) rank candidates by the cosine similarity of the
*projected* embeddings ``v = g_v(f_v(x_v))`` and ``u = g_u(f_u(x_u))``, which only a ConVIRT model has (an exported
image encoder alone serves image -> image retrieval). :func:`load_convirt_run` rebuilds the two towers of a run
folder of :func:`~raddino_monai.experiments.convirt_pretrain.convirt_pretrain_job` (its ``convirt_config.json`` and
newest checkpoint, loaded with ``weights_only=True``); :func:`convirt_embedders` wraps them as the ``{"image",
"text"}`` embedders that :func:`raddino_monai.evaluation.retrieval_run.run_retrieval` and the comparison tool's
frozen evaluations take. Images go through :func:`~raddino_monai.transforms.convirt_augment.convirt_eval_transforms`
(the run's input side and normalisation, no random step); texts are tokenised as in training (truncated at
``max_length``). :func:`convirt_retrieval_job` (``tools/retrieval.py --convirt_run``) runs text -> image and
image -> text retrieval of a run on a datalist (each labelled report a text query / candidate with its image's
label) or on [CV-DATA]'s CheXpert 8x200 ``text-retrieval/`` set.

References:
    - [PAPER-CV] Zhang et al., arXiv 2010.00747.
    - [CV-DATA] yuhaozhang/convirt @ cf6add8 (the 8x200 query / candidate CSVs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose
from transformers import PreTrainedTokenizerBase

from raddino_monai.engines.handlers import latest_checkpoint
from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.evaluation.retrieval import retrieval_records
from raddino_monai.evaluation.retrieval_run import (
    Embedder,
    RetrievalConfig,
    datalist_retrieval_sets,
    read_convirt_retrieval_set,
    run_retrieval,
)
from raddino_monai.evaluation.tables import write_csv, write_results
from raddino_monai.models.convirt import ConVIRTModel, load_tokenizer, tokenize_texts
from raddino_monai.ssl.convirt import ConVIRTConfig, ConVIRTPretrainModel
from raddino_monai.transforms import LoadCXRd
from raddino_monai.transforms.convirt_augment import convirt_eval_transforms

__all__ = ["ConVIRTRun", "load_convirt_run", "convirt_embedders", "text_items", "convirt_retrieval_job"]

_CONFIG_FILE = "convirt_config.json"  # written by build_convirt_trainer
_CHECKPOINTS = "checkpoints"


@dataclass
class ConVIRTRun:
    """The towers of a trained run with what their inputs need."""

    model: ConVIRTModel  # eval mode, on the requested device
    config: ConVIRTConfig  # the run's resolved config (input side, normalisation, text encoder folder)
    tokenizer: PreTrainedTokenizerBase  # the text encoder's tokenizer
    checkpoint: Path  # the checkpoint the weights came from
    iteration: int  # training iterations done at that checkpoint


def load_convirt_run(run_dir: str | os.PathLike[str], device: str | torch.device = "cpu") -> ConVIRTRun:
    """Rebuild a ConVIRT run's two towers from ``<run_dir>/convirt_config.json`` and its newest readable checkpoint.

    Args:
        run_dir: the output folder of ``convirt_pretrain_job`` / ``bundles/convirt``.
        device: where the model is put.

    Returns:
        :class:`ConVIRTRun` (the model in eval mode).

    Raises:
        FileNotFoundError: no config file or no readable checkpoint in ``run_dir`` (the paths looked at are named).
        RuntimeError: the checkpoint does not fit the config's model (another recipe wrote it).
    """
    folder = Path(run_dir).expanduser()
    config_path = folder / _CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: {folder} is not a ConVIRT run folder (convirt_pretrain_job "
                                f"writes {_CONFIG_FILE} and {_CHECKPOINTS}/).")
    config = ConVIRTConfig(**json.loads(config_path.read_text()))
    found = latest_checkpoint(folder / _CHECKPOINTS)
    if found is None:
        raise FileNotFoundError(f"no readable checkpoint in {folder / _CHECKPOINTS}: the run wrote none yet.")
    path, state = found
    # the checkpoint holds every weight: do not read the initial image weights again (they may have moved)
    net = ConVIRTPretrainModel.from_config(config.replace(model={"image_weights": None}))
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as err:
        raise RuntimeError(f"{path} does not fit the model of {config_path}: {str(err).splitlines()[0]}") from err
    model = net.model.to(device).eval()
    return ConVIRTRun(model, config, load_tokenizer(config.model.text_encoder), path, int(state.get("iteration", 0)))


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def convirt_embedders(run: ConVIRTRun, batch_size: int = 16, max_length: int | None = None,
                      image_key: str = "image", text_key: str = "text") -> dict[str, Embedder]:
    """``{"image": Embedder, "text": Embedder}`` giving the projected ``v`` / ``u`` embeddings of items.

    Args:
        run: from :func:`load_convirt_run`.
        batch_size: items per forward pass.
        max_length: token limit of a text (``None``: the tokenizer's ``model_max_length``, as in training).
        image_key: item key of the image path.
        text_key: item key of the sentence or report.

    Returns:
        the two embedders; each maps ``n`` items to a float32 ``(n, projection_dim)`` array (unnormalised; retrieval
        uses cosine similarity).

    Raises:
        KeyError: an item lacks the key of its modality (at call time; the keys found are listed).
    """
    device = next(run.model.parameters()).device
    transform = Compose([LoadCXRd(image_key), convirt_eval_transforms(image_key, run.config.augment)])

    def need(item: Mapping[str, Any], key: str) -> Any:
        if key not in item:
            raise KeyError(f"ConVIRT embedder: item lacks {key!r}; found {sorted(item)}.")
        return item[key]

    @torch.no_grad()
    def embed_images(items: Sequence[Mapping[str, Any]]) -> np.ndarray:
        out = []
        for batch in _batches(list(items), batch_size):
            images = torch.stack([transform({image_key: need(it, image_key)})[image_key] for it in batch])
            out.append(run.model.embed_image(images.to(device)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, run.model.projection_dim), np.float32)

    @torch.no_grad()
    def embed_texts(items: Sequence[Mapping[str, Any]]) -> np.ndarray:
        out = []
        for batch in _batches(list(items), batch_size):
            tokens = tokenize_texts(run.tokenizer, [str(need(it, text_key)) for it in batch], max_length)
            tokens = {k: v.to(device) for k, v in tokens.items()}
            out.append(run.model.embed_text(tokens["input_ids"], tokens["attention_mask"],
                                            tokens.get("token_type_ids")).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, run.model.projection_dim), np.float32)

    return {"image": embed_images, "text": embed_texts}


def text_items(items: Sequence[Mapping[str, Any]], report_key: str = "report") -> list[dict[str, Any]]:
    """Text queries / candidates from image items: one per item with a non-empty ``report_key``, ``"text"`` = the
    report, the item's label and patient kept, ``"id"`` = ``"report:<image id>"`` (never equal to an image id)."""
    return [{**it, "id": f"report:{it.get('id', it.get('image'))}", "text": str(it[report_key])}
            for it in items if str(it.get(report_key) or "").strip()]


def convirt_retrieval_job(
    run_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    config: RetrievalConfig,
    datalist: str | os.PathLike[str] | None = None,
    convirt_dir: str | os.PathLike[str] | None = None,
    image_root: str | os.PathLike[str] | None = None,
    report_key: str = "report",
) -> dict[str, Any]:
    """Text -> image and image -> text retrieval with a ConVIRT run's projected embeddings; writes
    ``results.{csv,md}``, ``per_class.csv`` and ``config.json`` into ``output_dir``.

    Args:
        run_dir: ConVIRT run folder (:func:`load_convirt_run`).
        output_dir: results folder.
        config: :class:`~raddino_monai.evaluation.retrieval_run.RetrievalConfig` (``ks``, ``label_key``, splits,
            ``exclude_same_patient``, ``batch_size``, ``device``; the image side and pooling are the run's own).
        datalist: labelled datalist (query / candidate sections, else leave-one-out); its ``report_key`` texts are
            the text queries (text -> image) and text candidates (image -> text). ``None`` and no ``convirt_dir`` =
            the embedded sample data.
        convirt_dir: a [CV-DATA] ``text-retrieval/`` folder (``query.csv`` with ``Variable,Text``): text -> image.
        image_root: where the [CV-DATA] image paths are relative to.
        report_key: datalist key of the report text.

    Returns:
        ``{"results": {direction: evaluate_retrieval output}, "records", "files"}``.

    Raises:
        ValueError: a [CV-DATA] folder with image queries (use ``tools/retrieval.py --encoder`` on the exported
            ``image_encoder_hf``: image -> image uses the encoder representation), or no labelled report.
    """
    run = load_convirt_run(run_dir, config.device)
    embedders = convirt_embedders(run, config.batch_size)
    if convirt_dir is not None:
        queries, candidates = read_convirt_retrieval_set(convirt_dir, image_root)
        if "text" not in queries[0]:
            raise ValueError(f"{convirt_dir}: image queries; image -> image retrieval uses the encoder representation "
                             f"h_v: run tools/retrieval.py --encoder <arch>:{Path(run_dir) / 'image_encoder_hf'}.")
        sets = {"text_to_image": (queries, candidates)}
        source = str(convirt_dir)
    else:
        queries, candidates, _ = datalist_retrieval_sets(datalist, config)
        text_queries, text_candidates = text_items(queries, report_key), text_items(candidates, report_key)
        if not text_queries:
            raise ValueError(f"no labelled item of {datalist or sample_datalist_path()} has a {report_key!r} text: "
                             "text retrieval needs reports.")
        sets = {"text_to_image": (text_queries, candidates), "image_to_text": (queries, text_candidates)}
        source = str(datalist or sample_datalist_path())
    label = f"convirt:{run_dir}"
    results, records, per_class = {}, [], []
    for direction, (q, c) in sets.items():
        results[direction] = run_retrieval(q, c, direction, embedders, config.ks, config.exclude_same_patient)
        base = retrieval_records(label, direction, results[direction])
        records += base
        per_class += retrieval_records(label, direction, results[direction], per_class=True)[len(base):]
    files = write_results(records, output_dir, {
        "convirt_run": str(run_dir), "checkpoint": str(run.checkpoint), "iteration": run.iteration, "source": source,
        "n_queries": {d: r["n_queries"] for d, r in results.items()}, **config.to_dict()})
    files["per_class"] = write_csv(per_class, Path(output_dir) / "per_class.csv")
    return {"results": results, "records": records, "files": files}

"""Build a small report LM or BERT from scratch: corpus -> tokenizer -> random-init model -> pretraining -> HF folder.

``build_lm`` (byte-level BPE + LLaMA / GPT-2 causal LM, for report generation) and ``build_bert`` (WordPiece + BERT
trained by MLM, the text encoder of ConVIRT / ECAMP) write one folder::

    <output_dir>/config.json, model.safetensors (+ generation_config.json)   the model (written last)
    <output_dir>/tokenizer.json, tokenizer_config.json (+ vocab.txt)        the tokenizer (written first)
    <output_dir>/build_plan.json   inputs and every config (written first; a resume must match it)
    <output_dir>/build.json        plan + corpus size + losses, perplexity, timings (written last)
    <output_dir>/checkpoints/  <output_dir>/tb/

so that ``AutoModelForCausalLM.from_pretrained(dir)`` / ``AutoModel.from_pretrained(dir)`` and
``AutoTokenizer.from_pretrained(dir)`` load it offline. An existing non-empty ``output_dir`` is never overwritten:
without ``resume`` the build refuses to start; with ``resume`` it continues an unfinished build of the same plan
from its last checkpoint (a finished one is refused too). For a BERT folder use ``last_hidden_state`` (CLS or mean
pooling): MLM pretraining trains no pooler, so ``AutoModel``'s ``pooler_output`` is random.

Example::

    >>> build_lm("reports.csv", "/tmp/lm", model=CausalLMConfig(num_layers=2), train=PretrainConfig(epochs=1))
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoTokenizer

from raddino_monai.data.report_datalist import read_report_texts
from raddino_monai.text.config import BertEncoderConfig, CausalLMConfig, PretrainConfig, TokenizerConfig
from raddino_monai.text.models import build_causal_lm, build_masked_lm
from raddino_monai.text.pretrain import pretrain_text_model
from raddino_monai.text.tokenizer import save_tokenizer, train_bpe_tokenizer, train_wordpiece_tokenizer
from raddino_monai.transforms.config_fields import config_from_fields

__all__ = ["build_lm", "build_bert", "random_bert"]

_PLAN, _SUMMARY = "build_plan.json", "build.json"


def _texts(reports: str | os.PathLike[str] | Sequence[str], column: str, section: str) -> tuple[list[str], str]:
    if isinstance(reports, (str, os.PathLike)):
        return read_report_texts(reports, column=column, section=section), str(reports)
    return [str(t) for t in reports if str(t).strip()], f"<{len(reports)} texts>"


def _check_output(out: Path, plan: dict[str, Any], resume: bool) -> bool:
    """Refuse to overwrite; True when an unfinished build of the same plan is to be continued."""
    if not (out.exists() and any(out.iterdir())):
        return False
    if not resume:
        raise FileExistsError(f"{out} exists and is not empty: choose a new output_dir, or pass resume=True to "
                              "continue an unfinished build there.")  # fmt: skip
    if (out / "config.json").exists():
        raise FileExistsError(f"{out} holds a finished build (config.json); choose a new output_dir.")
    saved = json.loads((out / _PLAN).read_text()) if (out / _PLAN).is_file() else None
    if saved != json.loads(json.dumps(plan)):
        raise ValueError(f"{out}/{_PLAN} does not match this build's inputs and configs (saved: {saved}); "
                         "resume with the same arguments or use a new output_dir.")  # fmt: skip
    return True


def _build(kind: str, reports: Any, output_dir: Any, column: str, section: str, tokenizer: Any, model: Any,
           train: Any, resume: bool) -> Path:  # fmt: skip
    tok_cfg = config_from_fields(TokenizerConfig, tokenizer)
    model_cfg = config_from_fields(CausalLMConfig if kind == "lm" else BertEncoderConfig, model)
    train_cfg = config_from_fields(PretrainConfig, train)
    texts, source = _texts(reports, column, section)
    plan = {"kind": kind, "reports": source, "n_reports": len(texts), "column": column, "section": section,
            "tokenizer": dataclasses.asdict(tok_cfg), "model": dataclasses.asdict(model_cfg),
            "train": dataclasses.asdict(train_cfg)}  # fmt: skip
    out = Path(output_dir).expanduser()
    start = time.perf_counter()
    if _check_output(out, plan, resume):
        tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    else:
        trainer = train_bpe_tokenizer if kind == "lm" else train_wordpiece_tokenizer
        tok = trainer(texts, tok_cfg.vocab_size, tok_cfg.min_frequency, model_cfg.max_position_embeddings)
        save_tokenizer(tok, out)  # the plan is written after the tokenizer, so a resumable folder has both
        (out / _PLAN).write_text(json.dumps(plan, indent=2) + "\n")
    tokenizer_seconds = time.perf_counter() - start
    torch.manual_seed(train_cfg.seed)
    network = build_causal_lm(model_cfg, tok) if kind == "lm" else build_masked_lm(model_cfg, tok)
    summary = pretrain_text_model(network, tok, texts, out, "causal" if kind == "lm" else "mlm", train_cfg,
                                  mlm=model_cfg if kind == "bert" else None, resume=True)  # fmt: skip
    record = {**plan, "vocab_size": len(tok), "tokenizer_seconds": tokenizer_seconds, **summary,
              "total_seconds": time.perf_counter() - start, "torch": torch.__version__,
              "transformers": transformers.__version__, "machine": platform.processor() or platform.machine()}
    (out / _SUMMARY).write_text(json.dumps(record, indent=2) + "\n")
    return out


def build_lm(
    reports: str | os.PathLike[str] | Sequence[str],
    output_dir: str | os.PathLike[str],
    column: str = "report",
    section: str = "findings+impression",
    tokenizer: TokenizerConfig | Mapping[str, Any] | None = None,
    model: CausalLMConfig | Mapping[str, Any] | None = None,
    train: PretrainConfig | Mapping[str, Any] | None = None,
    resume: bool = False,
) -> Path:
    """Build a causal report LM (byte-level BPE + LLaMA / GPT-2) from scratch.

    Args:
        reports: corpus path (CSV with ``column``, datalist JSON, Open-i XML / ``.tgz`` / CSV, ``.txt``; see
            :func:`~raddino_monai.data.report_datalist.read_report_texts`) or a list of report texts.
        output_dir: new folder (see the module docstring).
        column: CSV column of the reports.
        section: report section used (:func:`~raddino_monai.data.report_text.select_section`).
        tokenizer, model, train: configs or override mappings (defaults: :mod:`raddino_monai.text.config`).
        resume: continue an unfinished build in ``output_dir``.

    Returns:
        ``output_dir``.

    Raises:
        FileExistsError: ``output_dir`` is not empty (and not an unfinished build with ``resume``).
        ValueError: unknown config fields, a plan that differs from the unfinished build's, or an unusable corpus.
    """
    return _build("lm", reports, output_dir, column, section, tokenizer, model, train, resume)


def build_bert(
    reports: str | os.PathLike[str] | Sequence[str],
    output_dir: str | os.PathLike[str],
    column: str = "report",
    section: str = "findings+impression",
    tokenizer: TokenizerConfig | Mapping[str, Any] | None = None,
    model: BertEncoderConfig | Mapping[str, Any] | None = None,
    train: PretrainConfig | Mapping[str, Any] | None = None,
    resume: bool = False,
) -> Path:
    """Build a small BERT report encoder (WordPiece + MLM pretraining) from scratch; arguments as :func:`build_lm`."""
    return _build("bert", reports, output_dir, column, section, tokenizer, model, train, resume)


_RANDOM_PLAN = "random_bert.json"


def random_bert(
    texts: Sequence[str],
    output_dir: str | os.PathLike[str],
    tokenizer: TokenizerConfig | Mapping[str, Any] | None = None,
    model: BertEncoderConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """A random-init BERT with a WordPiece tokenizer trained on ``texts``, saved as an HF folder (no MLM training).

    For smoke runs and tests that need *a* local text encoder (e.g. the ConVIRT bundle on the sample data): nothing
    is downloaded and it says nothing about a pretrained ClinicalBERT. The folder is reused when it already holds a
    random BERT of the same plan (so a resumed run loads the same weights); ``random_bert.json`` records the plan.

    Args:
        texts: corpus for the tokenizer.
        output_dir: the folder (created).
        tokenizer, model: configs or override mappings (defaults: :mod:`raddino_monai.text.config`).
        seed: torch seed of the weight initialisation.

    Returns:
        ``output_dir``, loadable with ``AutoModel`` / ``AutoTokenizer.from_pretrained(output_dir)``.

    Raises:
        FileExistsError: ``output_dir`` is not empty and holds something else (another plan, or not a random BERT).
        ValueError: empty corpus, unknown config fields.
    """
    tok_cfg, model_cfg = config_from_fields(TokenizerConfig, tokenizer), config_from_fields(BertEncoderConfig, model)
    plan = {"kind": "random_bert", "n_texts": len(texts), "seed": seed, "tokenizer": dataclasses.asdict(tok_cfg),
            "model": dataclasses.asdict(model_cfg)}
    out = Path(output_dir).expanduser()
    if out.is_dir() and any(out.iterdir()):
        try:
            found = json.loads((out / _RANDOM_PLAN).read_text())
        except (OSError, ValueError):
            found = None
        if found == plan and (out / "config.json").is_file():
            return out
        raise FileExistsError(f"{out} is not empty and does not hold a random BERT of this plan ({_RANDOM_PLAN}); "
                              "use another folder.")
    tok = train_wordpiece_tokenizer(texts, tok_cfg.vocab_size, tok_cfg.min_frequency, model_cfg.max_position_embeddings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_masked_lm(model_cfg, tok)
    save_tokenizer(tok, out)
    network.save_pretrained(str(out))
    (out / _RANDOM_PLAN).write_text(json.dumps(plan, indent=2) + "\n")  # last: marks a complete folder
    return out

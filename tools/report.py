"""Report tools: train a report generator and generate findings, build a small LM / BERT, label and evaluate reports.

    python tools/report.py train --datalist DATALIST.json --lm LM --output_dir runs/report [--bundle_dir DIR] [options]
    python tools/report.py generate --model_dir runs/report/model --inputs IMAGES --out_path reports.csv [options]
    python tools/report.py build_lm REPORTS OUTPUT_DIR [--model "{'num_layers': 4}"] [--train "{'epochs': 3}"]
    python tools/report.py build_bert REPORTS OUTPUT_DIR [--tokenizer "{'vocab_size': 4096}"]
    python tools/report.py label IN_CSV OUT_CSV [--column report]
    python tools/report.py evaluate PRED_CSV REF_CSV [--output_dir results/report_eval] [--chexbert chexbert.pth]
        [--chexbert_tokenizer bert-base-uncased/] [--radgraph radgraph-xl/] [--n_resamples 500]
    python tools/report.py validate_labeler NLMCXR_reports.tgz [--output_dir results/labeler_openi]

``REPORTS`` is a CSV with a ``report`` column, a datalist JSON, an Open-i XML folder / ``.tgz`` / CSV or a ``.txt``
(one report per line). ``build_lm`` / ``build_bert`` write a Hugging Face folder (``AutoModelForCausalLM`` /
``AutoModel`` + ``AutoTokenizer`` load it offline) and never overwrite one (``--resume True`` continues an unfinished
build). ``--tokenizer``, ``--model``, ``--train`` override fields of ``TokenizerConfig``, ``CausalLMConfig`` /
``BertEncoderConfig`` and ``PretrainConfig`` (``raddino_monai/text/config.py``). ``label`` writes one column per
CheXpert observation (1 positive, 0 negative, -1 uncertain, empty: not mentioned). ``evaluate`` pairs the two CSVs
(``id``, ``report``) and writes ``metrics.json``, ``metrics.csv``, ``per_report.csv``; CheXbert / RadGraph F1 are
computed from local checkpoints when given and reported ``unavailable`` otherwise. ``build_bert`` (for ConVIRT /
ECAMP) sits beside ``build_lm`` rather than in a separate tool because both run the same builder with the same
options.

``LM`` is a local HF folder (e.g. Vicuna-7B v1.5, the paper's LM), a ``.gguf`` file, or ``smollm2`` (the packaged
SmolLM2-135M-Instruct, 4-bit; extra ``smollm2``). ``train`` options are the fields of
:class:`raddino_monai.report.ReportModelConfig` (``--template``, ``--use_cls``, ``--image_tokens``,
``--model_max_length``...), :class:`~raddino_monai.report.ReportTrainConfig` (``--mode full|lora|projector``,
``--epochs``, ``--global_batch_size``, ``--micro_batch_size``, ``--lr``, ``--precision``...) and
:class:`~raddino_monai.report.EncoderReference` prefixed ``encoder_`` (``--encoder_arch``, ``--encoder_weights``,
``--encoder_image_size``...), plus ``--split``, ``--features``, ``--report_key``, ``--device``;
``--init_projector runs/stage1/model`` starts from a saved model's projector (LLaVA / LLaVA-Rad stage 2, e.g.
``--mode lora`` after ``--mode projector``);
``--bundle_dir DIR`` (a new folder) also writes a
ready-to-serve ``raddino_cxr_report`` bundle (``models/report_model``) for MONAI Label. ``generate`` options
are the fields of :class:`~raddino_monai.report.ReportGenerationConfig` (``--max_new_tokens``, ``--num_beams``,
``--use_cache``, ``--batch_size``, ``--precision``) plus ``--split``, ``--features``, ``--encoder_weights``, ``--lm``,
``--overwrite``. Library: :mod:`raddino_monai.report.pipeline`; see docs/report_generation.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fire

from raddino_monai.evaluation.report.evaluate import ReportMetricsConfig
from raddino_monai.evaluation.report.runners import evaluate_csv, label_csv, validate_labeler
from raddino_monai.evaluation.runners import configs_from_options, options_signature
from raddino_monai.report import EncoderReference, ReportGenerationConfig, ReportModelConfig, ReportTrainConfig
from raddino_monai.report.pipeline import generate_from_inputs, train_from_datalist
from raddino_monai.serving.bundle_export import check_new_bundle_dir
from raddino_monai.serving.report_bundle import export_report_bundle
from raddino_monai.text.build import build_bert, build_lm

#: ``train`` options: the fields of these config dataclasses, :class:`EncoderReference`'s prefixed ``encoder_``.
TRAIN_CONFIGS = (EncoderReference, ReportModelConfig, ReportTrainConfig)
TRAIN_PREFIXES = {EncoderReference: "encoder_"}


def _build(builder, reports: str, output_dir: str, column: str, section: str, tokenizer: dict | None,  # noqa: ANN001
           model: dict | None, train: dict | None, resume: bool) -> str:  # fmt: skip
    out = builder(reports, output_dir, column=column, section=section, tokenizer=tokenizer, model=model, train=train,
                  resume=resume)  # fmt: skip
    return f"built {out} (details in {out / 'build.json'})"


def build_lm_command(
    reports: str, output_dir: str, column: str = "report", section: str = "findings+impression",
    tokenizer: dict | None = None, model: dict | None = None, train: dict | None = None, resume: bool = False,
) -> str:  # fmt: skip
    """Byte-level BPE + small LLaMA / GPT-2 causal LM pretrained on REPORTS, saved to OUTPUT_DIR."""
    return _build(build_lm, reports, output_dir, column, section, tokenizer, model, train, resume)


def build_bert_command(
    reports: str, output_dir: str, column: str = "report", section: str = "findings+impression",
    tokenizer: dict | None = None, model: dict | None = None, train: dict | None = None, resume: bool = False,
) -> str:  # fmt: skip
    """WordPiece + small BERT pretrained by MLM on REPORTS (text encoder for ConVIRT / ECAMP), saved to OUTPUT_DIR."""
    return _build(build_bert, reports, output_dir, column, section, tokenizer, model, train, resume)


def label_command(in_csv: str, out_csv: str, column: str = "report") -> str:
    """Label the ``column`` reports of IN_CSV with the offline CheXpert rule labeler into OUT_CSV."""
    return f"wrote {label_csv(in_csv, out_csv, column=column)}"


def evaluate_command(
    pred_csv: str, ref_csv: str, output_dir: str = "results/report_eval", n_resamples: int = 500, seed: int = 0,
    uncertain: str = "negative", chexbert: str | None = None, chexbert_tokenizer: str | None = None,
    radgraph: str | None = None, radgraph_model_type: str = "radgraph-xl", device: str = "cpu",
) -> str:  # fmt: skip
    """ROUGE-L, BLEU-4, rule-labeler / CheXbert clinical F1, RadGraph F1 (median, 95 % CI) of PRED_CSV vs REF_CSV."""
    config = ReportMetricsConfig(n_resamples=n_resamples, seed=seed, uncertain=uncertain, chexbert=chexbert,
                                 chexbert_tokenizer=chexbert_tokenizer, radgraph=radgraph,
                                 radgraph_model_type=radgraph_model_type, device=device)  # fmt: skip
    result = evaluate_csv(pred_csv, ref_csv, output_dir, config)
    return f"{result['n']} reports\n{result['table']}\nwrote {', '.join(str(p) for p in result['files'].values())}"


def validate_labeler_command(openi: str, output_dir: str = "results/labeler_openi",
                             section: str = "findings+impression") -> str:  # fmt: skip
    """Agreement of the rule labeler with Open-i's human MeSH terms, per observation, and its speed."""
    return validate_labeler(openi, output_dir, section=section)["table"]


def train(datalist: str, lm: str, output_dir: str, split: str | Sequence[str] | None = "training",
          features: str | None = None, report_key: str = "report", device: str = "cpu",
          init_projector: str | None = None, bundle_dir: str | None = None, **options: Any) -> str:
    """Extract features once, train, save ``<output_dir>/model``; prints and returns its path. ``init_projector``
    (a saved model) starts from its projector (stage 2 after a ``--mode projector`` stage 1); ``bundle_dir`` (a new
    folder) also receives a servable ``raddino_cxr_report`` bundle."""
    check_new_bundle_dir(bundle_dir)
    encoder, model_config, train_config = configs_from_options(options, *TRAIN_CONFIGS, prefixes=TRAIN_PREFIXES)
    model_dir = train_from_datalist(datalist, lm, output_dir, encoder=encoder, model_config=model_config,
                                    train_config=train_config, split=split, features=features, report_key=report_key,
                                    init_projector=init_projector, device=device)
    if bundle_dir:
        export_report_bundle(model_dir, bundle_dir)
    return str(model_dir)


def generate(model_dir: str, inputs: str, out_path: str, split: str | Sequence[str] | None = None,
             features: str | None = None, encoder_weights: str | None = None, lm: str | None = None,
             device: str = "cpu", overwrite: bool = False, **options: Any) -> str:
    """Write one generated report per image (``id,report``); prints and returns the output path."""
    (config,) = configs_from_options(options, ReportGenerationConfig)
    return str(generate_from_inputs(model_dir, inputs, out_path, config=config, split=split, features=features,
                                    encoder_weights=encoder_weights, lm=lm, device=device, overwrite=overwrite))


train.__signature__ = options_signature(train, *TRAIN_CONFIGS, prefixes=TRAIN_PREFIXES)  # type: ignore[attr-defined]
generate.__signature__ = options_signature(generate, ReportGenerationConfig)  # type: ignore[attr-defined]

COMMANDS = {
    "train": train,
    "generate": generate,
    "build_lm": build_lm_command,
    "build_bert": build_bert_command,
    "label": label_command,
    "evaluate": evaluate_command,
    "validate_labeler": validate_labeler_command,
}

if __name__ == "__main__":
    fire.Fire(COMMANDS)

"""Report generation (LLaVA-style, frozen encoder): train a model on image-report pairs, generate findings.

    python tools/report.py train --datalist DATALIST.json --lm LM --output_dir runs/report [options]
    python tools/report.py generate --model_dir runs/report/model --inputs IMAGES --out_path reports.csv [options]

``LM`` is a local HF folder (e.g. Vicuna-7B v1.5, the paper's LM), a ``.gguf`` file, or ``smollm2`` (the packaged
SmolLM2-135M-Instruct, 4-bit; extra ``smollm2``). ``train`` options are the fields of
:class:`raddino_monai.report.ReportModelConfig` (``--template``, ``--use_cls``, ``--image_tokens``,
``--model_max_length``...), :class:`~raddino_monai.report.ReportTrainConfig` (``--mode full|lora|projector``,
``--epochs``, ``--global_batch_size``, ``--micro_batch_size``, ``--lr``, ``--precision``...) and
:class:`~raddino_monai.report.EncoderReference` prefixed ``encoder_`` (``--encoder_arch``, ``--encoder_weights``,
``--encoder_image_size``...), plus ``--split``, ``--features``, ``--report_key``, ``--device``. ``generate`` options
are the fields of :class:`~raddino_monai.report.ReportGenerationConfig` (``--max_new_tokens``, ``--num_beams``,
``--use_cache``, ``--batch_size``, ``--precision``) plus ``--split``, ``--features``, ``--encoder_weights``, ``--lm``,
``--overwrite``. Library: :mod:`raddino_monai.report.pipeline`; see docs/report_generation.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fire

from raddino_monai.report import EncoderReference, ReportGenerationConfig, ReportModelConfig, ReportTrainConfig
from raddino_monai.report.pipeline import generate_from_inputs, split_options, train_from_datalist


def train(datalist: str, lm: str, output_dir: str, split: str | Sequence[str] | None = "training",
          features: str | None = None, report_key: str = "report", device: str = "cpu", **options: Any) -> str:
    """Extract features once, train, save ``<output_dir>/model``; prints and returns its path."""
    encoder, model_config, train_config = split_options(options, EncoderReference, ReportModelConfig,
                                                        ReportTrainConfig)
    return str(train_from_datalist(datalist, lm, output_dir, encoder=encoder, model_config=model_config,
                                   train_config=train_config, split=split, features=features, report_key=report_key,
                                   device=device))


def generate(model_dir: str, inputs: str, out_path: str, split: str | Sequence[str] | None = None,
             features: str | None = None, encoder_weights: str | None = None, lm: str | None = None,
             device: str = "cpu", overwrite: bool = False, **options: Any) -> str:
    """Write one generated report per image (``id,report``); prints and returns the output path."""
    (config,) = split_options(options, ReportGenerationConfig)
    return str(generate_from_inputs(model_dir, inputs, out_path, config=config, split=split, features=features,
                                    encoder_weights=encoder_weights, lm=lm, device=device, overwrite=overwrite))


if __name__ == "__main__":
    fire.Fire({"train": train, "generate": generate})

"""Does the image reach the report? SSL encoder vs random init vs blank features vs text only, LM frozen (CPU).

    python tools/report_evidence.py datalists --data_root ../shared/data/covid_chestxray --output_dir runs/report_ev
    python tools/ssl_evidence.py --datalist runs/report_ev/ssl_datalist.json --output_dir runs/report_ev/ssl --seeds 0
    python tools/report_evidence.py run --data_root ../shared/data/covid_chestxray --output_dir runs/report_ev \
        --ssl_weights runs/report_ev/ssl/seed_0/teacher_hf

``datalists`` writes the patient split (``report_datalist.json``; ``ssl_datalist.json`` = training images only, so
the SSL encoder never sees a test image). ``run`` trains a projector per encoder variant with the LM frozen (LLaVA
stage 1) and writes ``<variant>/predictions.csv``, ``references.csv`` and ``results.json`` (training-loss curve,
held-out token loss, properties of the generated texts, timings); score the CSVs with the report-metrics tool.
Options (``--lm``, ``--epochs``, ``--image_size``, ``--max_new_tokens``...) are the fields of
:class:`raddino_monai.report.evidence.ReportEvidenceConfig`; ``--variants`` picks a subset of
``ssl,random,blank,text_only``. See docs/report_generation.md for measured results.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import fire

from raddino_monai.evaluation.runners import config_from_options, options_signature
from raddino_monai.report.evidence import (
    VARIANTS,
    ReportEvidenceConfig,
    covid_report_items,
    report_evidence,
    write_split_datalists,
)


def datalists(data_root: str, output_dir: str, **options: Any) -> str:
    """Write the split datalists; returns their paths as JSON."""
    config = config_from_options(ReportEvidenceConfig, options)
    paths = write_split_datalists(covid_report_items(data_root), output_dir, config)
    return json.dumps({k: str(v) for k, v in paths.items()})


def run(data_root: str, output_dir: str, ssl_weights: str | None = None, variants: Sequence[str] = VARIANTS,
        **options: Any) -> str:
    """Run the comparison; returns ``results.json``'s content."""
    config = config_from_options(ReportEvidenceConfig, options)
    variants = [variants] if isinstance(variants, str) else list(variants)
    results = report_evidence(covid_report_items(data_root), output_dir, ssl_weights, config, variants)
    return json.dumps({k: v for k, v in results.items() if k != "config"}, indent=1)


datalists.__signature__ = options_signature(datalists, ReportEvidenceConfig)  # type: ignore[attr-defined]
run.__signature__ = options_signature(run, ReportEvidenceConfig)  # type: ignore[attr-defined]

if __name__ == "__main__":
    fire.Fire({"datalists": datalists, "run": run})

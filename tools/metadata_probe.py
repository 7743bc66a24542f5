"""Metadata probes (sex, age, weight, BMI) on frozen embeddings, 5-fold CV grouped by patient ([PAPER] §4.4).

    python tools/metadata_probe.py --encoder raddino_vitb14:/models/rad-dino --datalist data/cxr.json \
        --output_dir results/metadata_probe

Attributes missing from the datalist are reported as skipped. Every other flag is a field of
``raddino_monai.evaluation.MetadataProbeConfig`` (``--attributes "['sex','age']"``, ``--binning quantile`` for
training-fold quintiles instead of the fixed ``DEFAULT_BIN_EDGES``, ``--C`` one value or a list chosen per fold by
inner grouped CV, default ``C_GRID``) or a feature-extraction option of ``metadata_probe_job`` (``--pooling``,
``--image_size`` (default: the backbone's), ``--fit``, ``--batch_size``, ``--device``, ``--max_bad_fraction``: share of
unreadable images skipped and counted, default 0 = stop at the first, naming it). Outputs: ``results.csv``,
``results.md``, ``folds.json``, ``embeddings.npy``, ``config.json``, ``bad_files.csv``.
"""

from __future__ import annotations

from typing import Any

import fire

from raddino_monai.evaluation.metadata_probe import MetadataProbeConfig
from raddino_monai.evaluation.runners import JOBS, metadata_probe_job, options_signature


def main(encoder: str, datalist: str | None = None, output_dir: str = "results/metadata_probe", **options: Any) -> str:
    """Run the metadata probes and print the results table (options: :class:`MetadataProbeConfig` fields and the
    extraction options of :func:`~raddino_monai.evaluation.runners.metadata_probe_job`)."""
    return JOBS["metadata_probe"](encoder, datalist, output_dir, options)["files"]["markdown"].read_text()



main.__signature__ = options_signature(main, MetadataProbeConfig, metadata_probe_job)  # type: ignore[attr-defined]

if __name__ == "__main__":
    fire.Fire(main)

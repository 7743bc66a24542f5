"""Metadata probes (sex, age, weight, BMI) on frozen embeddings, 5-fold CV grouped by patient ([PAPER] §4.4).

    python tools/metadata_probe.py --encoder raddino_vitb14:/models/rad-dino --datalist data/cxr.json \
        --output_dir results/metadata_probe

Attributes missing from the datalist are reported as skipped. ``--binning quantile`` uses training-fold quintiles
instead of the fixed default bin edges (raddino_monai.evaluation.metadata_probe.DEFAULT_BIN_EDGES). ``--C`` is one
value or a list chosen per fold by inner grouped CV (default ``C_GRID``, 1e-3 ... 10). Outputs:
``results.csv``, ``results.md``, ``folds.json``, ``embeddings.npy``, ``config.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import fire

from raddino_monai.evaluation.metadata_probe import C_GRID, MetadataProbeConfig
from raddino_monai.evaluation.runners import metadata_probe_job


def main(
    encoder: str,
    datalist: str | None = None,
    output_dir: str = "results/metadata_probe",
    attributes: Sequence[str] = ("sex", "age", "weight", "bmi"),
    binning: str = "fixed",
    n_splits: int = 5,
    seed: int = 0,
    C: float | Sequence[float] = C_GRID,
    pooling: str = "cls",
    image_size: int = 518,
    fit: str = "crop",
    batch_size: int = 32,
    device: str = "cpu",
) -> str:
    """Run the metadata probes and print the results table (see :class:`MetadataProbeConfig`)."""
    config = MetadataProbeConfig(attributes=tuple(attributes), binning=binning, n_splits=n_splits, seed=seed, C=C)
    result = metadata_probe_job(encoder, datalist, output_dir, config, pooling, image_size, fit, batch_size, device)
    return result["files"]["markdown"].read_text()


if __name__ == "__main__":
    fire.Fire(main)

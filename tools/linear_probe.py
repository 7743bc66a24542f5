"""Linear probes of a frozen encoder: AUPRC / AUROC, mean ± std over seeds, label fractions (RAD-DINO [PAPER] §4.2).

    python tools/linear_probe.py --encoder raddino_vitb14:/models/rad-dino --datalist data/cxr.json \
        --task multilabel --output_dir results/linear_probe

``--encoder`` is ``arch`` or ``arch:weights`` (a local HF folder or .safetensors). Without ``--datalist`` the embedded
sample data is used. Every other flag is a field of ``raddino_monai.evaluation.LinearProbeConfig``, which holds the
defaults and their sources (e.g. ``--task multiclass``, ``--epochs 10``, ``--seeds "[0,1]"``, ``--image_size 224``;
the image size defaults to the backbone's). ``--augment False`` switches to the cached-embedding fast path. Outputs
in ``--output_dir``: ``results.csv``, ``results.md``, ``runs.csv``, ``config.json``, ``bad_files.csv``, TensorBoard logs in ``tb/``. ``--max_bad_fraction 0.05`` skips and counts up to 5 % unreadable images (the default 0
stops at the first one, naming it). ``--bundle_dir DIR``
also writes a ready-to-serve ``raddino_cxr_classification`` bundle (the head of the 100 % fraction, first seed).
"""

from __future__ import annotations

from typing import Any

import fire

from raddino_monai.evaluation.linear_probe import LinearProbeConfig
from raddino_monai.evaluation.runners import config_from_options, linear_probe_job, options_signature
from raddino_monai.serving.bundle_export import check_new_bundle_dir, export_classification_bundle


def main(
    encoder: str,
    datalist: str | None = None,
    output_dir: str = "results/linear_probe",
    bundle_dir: str | None = None,
    **options: Any,
) -> str:
    """Run linear probes and print the results table; ``options`` are :class:`LinearProbeConfig` fields;
    ``bundle_dir`` (a new folder) also receives a servable classification bundle."""
    check_new_bundle_dir(bundle_dir)
    config = config_from_options(LinearProbeConfig, options)
    result = linear_probe_job(encoder, datalist, output_dir, config)
    if bundle_dir:
        export_classification_bundle(result["head"], encoder, config, result["score_names"], bundle_dir)
    return result["files"]["markdown"].read_text()



main.__signature__ = options_signature(main, LinearProbeConfig)  # type: ignore[attr-defined]

if __name__ == "__main__":
    fire.Fire(main)

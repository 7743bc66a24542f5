"""Linear probes of a frozen encoder: AUPRC / AUROC, mean ± std over seeds, label fractions (RAD-DINO [PAPER] §4.2).

    python tools/linear_probe.py --encoder raddino_vitb14:/models/rad-dino --datalist data/cxr.json \
        --task multilabel --output_dir results/linear_probe

``--encoder`` is ``arch`` or ``arch:weights`` (a local HF folder or .safetensors). Without ``--datalist`` the embedded
sample data is used. ``--augment False`` switches to the cached-embedding fast path. Outputs in ``--output_dir``:
``results.csv``, ``results.md``, ``runs.csv``, ``config.json``, TensorBoard logs in ``tb/``. ``--bundle_dir DIR``
also writes a ready-to-serve ``raddino_cxr_classification`` bundle (the head of the 100 % fraction, first seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import fire

from raddino_monai.evaluation.linear_probe import LinearProbeConfig
from raddino_monai.evaluation.runners import linear_probe_run
from raddino_monai.serving.bundle_export import check_new_bundle_dir, export_classification_bundle


def main(
    encoder: str,
    datalist: str | None = None,
    output_dir: str = "results/linear_probe",
    task: str = "multiclass",
    label_key: str = "label",
    pooling: str = "cls",
    n_last_blocks: int = 4,
    image_size: int = 518,
    fit: str = "crop",
    epochs: int = 100,
    batch_size: int = 96,
    base_lr: float = 5e-5,
    weight_decay: float = 0.01,
    augment: bool = True,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    label_fractions: Sequence[float] = (0.01, 0.1, 1.0),
    device: str = "cpu",
    num_workers: int = 0,
    bundle_dir: str | None = None,
) -> str:
    """Run linear probes and print the results table (see :class:`LinearProbeConfig` for every option)."""
    config = LinearProbeConfig(
        task=task, label_key=label_key, pooling=pooling, n_last_blocks=n_last_blocks, image_size=image_size, fit=fit,
        epochs=epochs, batch_size=batch_size, base_lr=base_lr, weight_decay=weight_decay, augment=augment,
        seeds=tuple(seeds), label_fractions=tuple(label_fractions), device=device, num_workers=num_workers,
    )
    check_new_bundle_dir(bundle_dir)
    result = linear_probe_run(encoder, datalist, output_dir, config)
    if bundle_dir:
        export_classification_bundle(result["head"], encoder, config, result["score_names"], bundle_dir)
    return result["files"]["markdown"].read_text()


if __name__ == "__main__":
    fire.Fire(main)

"""Image-only SSL vs language-supervised pretraining with one budget, judged on held-out patients.

    python tools/compare_pretraining.py --datalist DATALIST.json --output_dir runs/compare \
        --methods "[random,ssl]" --encoder tiny_vit_p16 --steps 300 --batch_size 16 --seeds "[0,1,2]"

Methods: ``random`` (same backbone, random init), ``ssl`` (RAD-DINO-style DINO + iBOT + KoLeo with the project's
engine), ``convirt`` and ``ecamp`` (image + ``report`` items). Every method gets the same budget (``--steps`` optimizer
steps of ``--batch_size`` images at ``--image_size``, ``--max_minutes`` cap) on the pretraining patients
(``--eval_fraction`` of the patients, by ``--patient_key``, are held out), then the same frozen evaluations on the
held-out patients: linear probe (``--label_key``; AUPRC / AUROC), metadata probes (view group, sex, age), segmentation
Dice (items with ``mask``), retrieval Precision@k (image -> image; text <-> image for ConVIRT), and report generation
with ``--report_lm`` (a local causal LM: LLaVA stage 1 on the held-out image + report items; ``--report_options``
changes its ``ReportEvidenceConfig`` fields). Writes
``results.md`` (budget, mean ± std over seeds, paired ``--reference`` − method differences with the sign test),
``records.csv``, ``summary.csv``, ``results.png``, ``results.json``, ``config.json``. Option mappings
(``--method_options``, ``--linear_probe_options``, ``--metadata_probe_options``, ``--segmentation_options``,
``--report_options``) pass
fields of the library's config dataclasses. Library: :mod:`raddino_monai.experiments.compare_pretraining`; measured
results in docs/compare_pretraining.md.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import fire

from raddino_monai.evaluation.runners import config_from_options, options_signature
from raddino_monai.experiments.compare_pretraining import CompareConfig, compare_pretraining
from raddino_monai.experiments.frozen_evaluations import FrozenEvalConfig
from raddino_monai.experiments.pretraining_methods import PretrainBudget, get_method


def main(datalist: str, output_dir: str = "runs/compare_pretraining", **options: Any) -> str:
    """Run :func:`~raddino_monai.experiments.compare_pretraining.compare_pretraining` and return ``results.md``.

    Args:
        datalist: JSON/CSV datalist (docs/datalist.md).
        output_dir: results folder (a finished one is never overwritten).
        options: fields of ``CompareConfig``, ``PretrainBudget`` and ``FrozenEvalConfig`` (``--help`` lists them
            with their defaults).
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for key in ("methods", "seeds", "evaluations", "metadata_attributes", "retrieval_ks"):  # fire: one value
        if isinstance(options.get(key), (str, int)):
            options[key] = (options[key],)
    for name in options.get("methods", ()):  # a misspelt method: the valid names, before anything else
        get_method(name)
    parts = []
    for cls in (CompareConfig, PretrainBudget, FrozenEvalConfig):
        fields = {f.name for f in dataclasses.fields(cls)}
        parts.append(config_from_options(cls, {k: v for k, v in options.items() if k in fields}))
    known = {f.name for cls in (CompareConfig, PretrainBudget, FrozenEvalConfig) for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown}; valid options are {sorted(known)}.")
    config, budget, evaluation = parts
    results = compare_pretraining(datalist, output_dir, config, budget, evaluation)
    with open(results["files"]["markdown"]) as f:
        return f.read()


# spell out the dataclass fields (defaults from that one source) so that --help lists them and exits 0
main.__signature__ = options_signature(  # type: ignore[attr-defined]
    main, CompareConfig, PretrainBudget, FrozenEvalConfig
)

if __name__ == "__main__":
    fire.Fire(main)

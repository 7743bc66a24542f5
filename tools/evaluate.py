"""Evaluation suite: encoder(s) × task(s) -> one CSV and one paper-style Markdown table.

    python tools/evaluate.py --encoders "['raddino_vitb14:/models/rad-dino','dinov2_vitb14:/models/dinov2']" \
        --tasks "['linear_probe','metadata_probe','segmentation']" --datalist data/cxr.json --output_dir results/suite

Per-task options go in ``--linear_probe``, ``--metadata_probe`` and ``--segmentation`` dicts (fields of
LinearProbeConfig / MetadataProbeConfig / SegmentationConfig), e.g.
``--linear_probe "{'epochs': 10, 'augment': False}"``.
Outputs: ``results.csv``, ``results.md``, ``config.json`` and one sub-folder per encoder and task.
"""

from __future__ import annotations

from collections.abc import Sequence

import fire

from raddino_monai.evaluation.suite import SUITE_TASKS, run_suite


def main(
    encoders: Sequence[str],
    tasks: Sequence[str] | None = None,
    datalist: str | None = None,
    output_dir: str = "results/evaluation",
    linear_probe: dict | None = None,
    metadata_probe: dict | None = None,
    segmentation: dict | None = None,
) -> str:
    """Run every task (default: all of :data:`SUITE_TASKS`) for every encoder and print the combined table."""
    options = {"linear_probe": linear_probe or {}, "metadata_probe": metadata_probe or {},
               "segmentation": segmentation or {}}
    encoders = [encoders] if isinstance(encoders, str) else list(encoders)
    tasks = list(SUITE_TASKS) if tasks is None else [tasks] if isinstance(tasks, str) else list(tasks)
    return run_suite(encoders, tasks, datalist, output_dir, options)["files"]["markdown"].read_text()


if __name__ == "__main__":
    fire.Fire(main)

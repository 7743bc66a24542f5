"""Does the SSL engine learn? Pretrain a tiny ViT on CPU, then frozen linear probes (view, sex) vs random init.

    python tools/ssl_evidence.py --datalist DATALIST.json --output_dir runs/ssl_evidence --seeds "[0,1,2]"

The datalist (JSON/CSV, docs/datalist.md) needs ``image`` and, for the probes, ``patient_id`` (grouped folds),
``view_group`` or ``view`` (PA / AP / lateral, DICOM ViewPosition strings) and ``sex`` (M / F). Further options
(``--max_iters``, ``--max_minutes``, ``--arch``, ``--batch_size``, ``--num_workers``, ``--probe_size``,
``--recipe``, ``--crops``, ``--probe_every``, ``--heldout_fraction``, ``--patient_key``) are the arguments of the
library function :func:`raddino_monai.experiments.ssl_evidence.ssl_evidence`. Each seed (pretraining, random init and probe folds) gets its
own run under ``--output_dir/seed_<s>`` (``results.json``, ``results.png``, TensorBoard logs, ``teacher_hf/``, and
``curve.png`` with ``--probe_every``); prints training images/s, the share of each step spent waiting for data and
probe accuracies (5-fold, patient-grouped) as each seed finishes, then the mean over seeds with the paired
difference to random init and a one-sided sign test (``combined.json``). By default pretraining sees every image and
the probes score those same images (mode ``all_images``); ``--heldout_fraction 0.5`` holds half of the patients out
of pretraining and probes only them (mode ``held_out_patients``; each result names its mode).
See docs/ssl_evidence.md for measured results.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fire

from raddino_monai.experiments.evidence_summary import combine_seeds, format_combined, format_evidence
from raddino_monai.experiments.ssl_evidence import ssl_evidence


def main(
    datalist: str, output_dir: str = "runs/ssl_evidence", seeds: int | Sequence[int] = (0,), **options: Any
) -> str:
    """Run :func:`~raddino_monai.experiments.ssl_evidence.ssl_evidence` once per seed, print each seed's summary when it
    is done, and return the summary over seeds.

    Args:
        datalist: JSON/CSV datalist.
        output_dir: one ``seed_<s>`` folder per seed, plus ``combined.json``.
        seeds: a seed or a list of seeds.
        options: further ``ssl_evidence`` arguments: ``--max_iters``, ``--max_minutes``, ``--arch``, ``--batch_size``,
            ``--num_workers``, ``--probe_size``, ``--recipe``, ``--crops``, ``--probe_every``, ``--heldout_fraction``,
            ``--patient_key`` (defaults and meaning in its docstring).
    """
    seeds = [int(seeds)] if isinstance(seeds, (int, str)) else [int(s) for s in seeds]
    runs = []
    for seed in seeds:
        runs.append(ssl_evidence(datalist, Path(output_dir) / f"seed_{seed}", seed=seed, **options))
        print(f"seed {seed}:\n{format_evidence(runs[-1])}", flush=True)  # each seed's result as soon as it is known
    combined = combine_seeds(runs)
    (Path(output_dir) / "combined.json").write_text(json.dumps(combined, indent=2))
    return "\n".join([format_combined(combined), json.dumps({"output_dir": output_dir})])


# fire reads the signature: spell out ssl_evidence's options (with their defaults, from that one source) so that
# ``--help`` lists them and exits 0 (with a bare ``**options`` fire shows help through its error path, exit 2)
main.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [p for n, p in inspect.signature(main).parameters.items() if n != "options"]
    + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for n, p in inspect.signature(ssl_evidence).parameters.items()
       if n not in ("datalist", "output_dir", "seed")]
)

if __name__ == "__main__":
    fire.Fire(main)

"""Does the SSL engine learn? Pretrain a tiny ViT on CPU, then frozen linear probes (view, sex) vs random init.

    python tools/ssl_evidence.py --datalist DATALIST.json --output_dir runs/ssl_evidence --max_minutes 5

The datalist (JSON/CSV, docs/architecture.md) needs ``image`` and, for the probes, ``patient_id`` (grouped folds),
``view_group`` or ``view`` (PA / AP / lateral, DICOM ViewPosition strings) and ``sex`` (M / F). Further options
(``--max_iters``, ``--max_minutes``, ``--arch``, ``--batch_size``, ``--num_workers``, ``--probe_size``, ``--seed``)
are the arguments of the library function :func:`raddino_monai.engines.evidence.ssl_evidence`. Prints training
images/s, the share of each step spent waiting for data, and probe accuracies (5-fold, patient-grouped); writes
``results.json``, ``results.png`` and TensorBoard logs under ``--output_dir``.
"""

from __future__ import annotations

import json
from typing import Any

import fire

from raddino_monai.engines.evidence import format_evidence, ssl_evidence


def main(datalist: str, output_dir: str = "runs/ssl_evidence", **options: Any) -> str:
    """Run :func:`~raddino_monai.engines.evidence.ssl_evidence` with ``options`` and return its summary.

    Args:
        datalist: JSON/CSV datalist.
        output_dir: results, plot and TensorBoard logs.
        options: further ``ssl_evidence`` arguments: ``--max_iters``, ``--max_minutes``, ``--arch``, ``--batch_size``,
            ``--num_workers``, ``--probe_size``, ``--seed`` (defaults and meaning in its docstring).
    """
    results = ssl_evidence(datalist, output_dir, **options)
    return f"{format_evidence(results)}\n{json.dumps({'output_dir': output_dir})}"


if __name__ == "__main__":
    fire.Fire(main)

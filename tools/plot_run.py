"""Turn a pretraining run's TensorBoard logs into one PNG: every loss term, schedule, collapse monitor and throughput.

    python tools/plot_run.py runs/raddino                      # -> runs/raddino/run_report.png
    python tools/plot_run.py runs/raddino --out_path report.png --n_prototypes 65536 --smoothing 0.8

``RUN_DIR`` is the run's output folder (or its ``tensorboard/`` folder); every folder below it with event files is one
line per panel. Panels: :data:`raddino_monai.visualize.run_report.PANELS` (unknown tags get a panel of their own).
"""

from __future__ import annotations

import fire

from raddino_monai.visualize.run_report import plot_run


def main(run_dir: str, out_path: str | None = None, n_prototypes: int | None = None, smoothing: float = 0.6,
         columns: int = 4) -> str:
    """Write the run report PNG of ``run_dir``; ``n_prototypes`` draws ln K for runs that did not log it."""
    return str(plot_run(run_dir, out_path, n_prototypes, smoothing, columns))


if __name__ == "__main__":
    fire.Fire(main)

"""A tiny CPU pretraining process for the fault-injection tests (tests/faults/test_faults.py).

Usage: ``python pretrain_worker.py OUT_DIR MODE``: trains the tiny seeded setup of ``tests/engines/ssl_helpers.py``
(12 generated images, batch 4, 2 epochs = 6 iterations) with a checkpoint every iteration into ``OUT_DIR/ckpt`` and
resumes from it when one exists. Each iteration's loss is appended to ``OUT_DIR/losses.txt`` as ``iteration repr``
(flushed and fsync'ed, so it survives a kill). ``MODE``:

* ``run``: train to the end;
* ``kill_in_save``: ``SIGKILL`` itself half-way through writing the checkpoint of iteration 4 (the temporary file is
  partly written; the previous checkpoint is complete);
* ``kill_in_step``: ``SIGKILL`` itself in the middle of iteration 5 (after the forward pass, before the step).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engines"))

from ignite.engine import Events  # noqa: E402
from monai.engines.utils import IterationEvents  # noqa: E402
from ssl_helpers import make_trainer  # noqa: E402

import raddino_monai.engines.handlers.checkpoint as checkpoint_module  # noqa: E402
from raddino_monai.engines.handlers import SSLCheckpointHandler  # noqa: E402


def main(out_dir: str, mode: str) -> None:
    torch.set_num_threads(1)
    out = Path(out_dir)
    trainer = make_trainer(batch_size=4, max_epochs=2, handlers=[SSLCheckpointHandler(out / "ckpt", save_interval=1)])

    def record(engine: object) -> None:
        with open(out / "losses.txt", "a") as f:
            f.write(f"{trainer.state.iteration} {trainer.state.output['losses']['loss']!r}\n")
            f.flush()
            os.fsync(f.fileno())

    trainer.add_event_handler(Events.ITERATION_COMPLETED, record)
    if mode == "kill_in_step":
        def kill_mid_step(engine: object) -> None:
            if trainer.state.iteration == 5:
                os.kill(os.getpid(), signal.SIGKILL)

        trainer.add_event_handler(IterationEvents.FORWARD_COMPLETED, kill_mid_step)
    if mode == "kill_in_save":
        real_save = torch.save

        def save_then_die(obj: object, f: object, *args: object, **kwargs: object) -> None:
            if isinstance(obj, dict) and obj.get("iteration") == 4:
                f.write(b"partial checkpoint bytes")  # type: ignore[attr-defined]
                f.flush()  # type: ignore[attr-defined]
                os.kill(os.getpid(), signal.SIGKILL)
            real_save(obj, f, *args, **kwargs)

        checkpoint_module.torch.save = save_then_die  # type: ignore[assignment]
    trainer.run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

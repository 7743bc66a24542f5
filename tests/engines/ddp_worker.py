"""One rank of the 2-process gloo SSL run started by tests/engines/test_ddp.py.

Usage: ``python ddp_worker.py RANK WORLD_SIZE INIT_FILE OUT_FILE [nan]``. Trains the tiny DINO-only setup of
``ssl_helpers.ddp_config`` for one epoch (3 iterations, batch 2 per rank) inside DistributedDataParallel and saves the
per-iteration losses and the final student state to ``OUT_FILE``. With ``nan``: a NaNGuard and a checkpoint handler
(every iteration, into ``OUT_FILE``'s folder) are attached, rank 1 reports a NaN loss at iteration 2, and each rank
saves the NaNGuard's message instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from monai.engines.utils import IterationEvents
from ssl_helpers import ddp_config, make_trainer, record_losses, student_state

from raddino_monai.engines.handlers import NaNGuard, NonFiniteLossError, SSLCheckpointHandler


def _inject_nan(engine: Any) -> None:
    """FORWARD_COMPLETED (before the NaNGuard's LOSS_COMPLETED check): a NaN loss on rank 1 at iteration 2."""
    if dist.get_rank() == 1 and engine.state.iteration == 2:
        engine.state.output["losses"]["loss"] = float("nan")


def main(rank: int, world_size: int, init_file: str, out_file: str, mode: str = "") -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        if mode == "nan":
            handlers = [NaNGuard(), SSLCheckpointHandler(Path(out_file).parent / "ckpt", save_interval=1)]
            trainer = make_trainer(batch_size=2, max_epochs=1, config=ddp_config(), wrap_ddp=True, handlers=handlers)
            trainer.add_event_handler(IterationEvents.FORWARD_COMPLETED, _inject_nan)
            try:
                trainer.run()
            except NonFiniteLossError as err:
                Path(out_file).write_text(f"{trainer.state.iteration}\n{err}")
            return
        trainer = make_trainer(batch_size=2, max_epochs=1, config=ddp_config(), wrap_ddp=True)
        losses = record_losses(trainer)
        trainer.run()
        torch.save({"losses": losses, "student": student_state(trainer)}, out_file)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], *sys.argv[5:])

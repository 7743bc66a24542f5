"""One rank of the 2-process gloo SSL run started by tests/engines/test_ddp.py.

Usage: ``python ddp_worker.py RANK WORLD_SIZE INIT_FILE OUT_FILE``. Trains the tiny DINO-only setup of
``ssl_helpers.ddp_config`` for one epoch (3 iterations, batch 2 per rank) inside DistributedDataParallel and saves the
per-iteration losses and the final student state to ``OUT_FILE``.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from ssl_helpers import ddp_config, make_trainer, record_losses, student_state


def main(rank: int, world_size: int, init_file: str, out_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        trainer = make_trainer(batch_size=2, max_epochs=1, config=ddp_config(), wrap_ddp=True)
        losses = record_losses(trainer)
        trainer.run()
        torch.save({"losses": losses, "student": student_state(trainer)}, out_file)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])

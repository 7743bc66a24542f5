"""One rank of a 2-process gloo run of the centering code (started by tests/losses/test_centering.py).

Usage: ``python dist_centering_worker.py RANK WORLD_SIZE INIT_FILE OUT_DIR``. Every rank builds the same full data
from a fixed seed and keeps its own rows (unequal row counts per rank, as iBOT masked patches), then saves its
Sinkhorn-Knopp targets and softmax centres to ``OUT_DIR/rank{RANK}.pt``.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from raddino_monai.losses.centering import SoftmaxCentering, sinkhorn_knopp

ROW_SPLITS = (5, 3)  # rows per rank
N_PROTOTYPES = 7


def full_logits() -> torch.Tensor:
    return torch.randn(sum(ROW_SPLITS), N_PROTOTYPES, generator=torch.Generator().manual_seed(123))


def main(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    start = sum(ROW_SPLITS[:rank])
    local = full_logits()[start : start + ROW_SPLITS[rank]]
    sk = sinkhorn_knopp(local, teacher_temp=0.05, n_iterations=3)
    sync = SoftmaxCentering(N_PROTOTYPES, momentum=0.9)
    sync.update(local)
    asynchronous = SoftmaxCentering(N_PROTOTYPES, momentum=0.9)
    asynchronous.update(local, async_op=True)
    saved_center = asynchronous.state_dict()["center"].clone()  # the pending update must be applied before saving
    torch.save({"sk": sk, "center_sync": sync.center.clone(), "center_async": saved_center}, f"{out_dir}/rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])

"""One rank of the 2-process gloo FSDP-vs-DDP run started by tests/engines/test_fsdp.py.

Usage: ``python fsdp_worker.py RANK WORLD_SIZE INIT_FILE OUT_DIR``. In one process group, on the tiny setup of
``ssl_helpers.tiny_config`` (DINO + iBOT + KoLeo, clipping active, batch 2 per rank, 3 iterations per epoch):

* ``ddp``: 2 epochs under DistributedDataParallel, checkpoints every 3 iterations, teacher exported at the end;
* ``fsdp``: the same under FSDP2 (:func:`shard_student_teacher`) with activation checkpointing;
* ``fsdp_from_ddp`` / ``ddp_from_fsdp``: resume the other mode's iteration-3 checkpoint and finish the run;
* ``ddp_bf16`` / ``fsdp_bf16``: 1 epoch in bf16 (autocast; FSDP adds its bf16 ``MixedPrecisionPolicy``).

Saves ``OUT_DIR/rank<R>.pt`` with the per-iteration losses of each phase and the final (gathered) student state.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from ssl_helpers import make_dataset, record_losses, tiny_config

from raddino_monai.data.collate import SSLCollate
from raddino_monai.data.samplers import ResumableDistributedSampler
from raddino_monai.engines import SSLTrainer, shard_student_teacher
from raddino_monai.engines.fsdp import full_tensor_state
from raddino_monai.engines.handlers import SSLCheckpointHandler, TeacherExportHandler
from raddino_monai.ssl import StudentTeacher


def build(mode: str, out: Path, max_epochs: int, precision: str, load_path: Path | None = None) -> SSLTrainer:
    """Seeded tiny trainer, DDP-wrapped or FSDP-sharded, checkpointing into ``out/<mode>``."""
    config = tiny_config().replace(precision=precision, backbone={"grad_checkpointing": mode.startswith("fsdp")})
    torch.manual_seed(0)
    model = StudentTeacher.from_config(config)
    network: torch.nn.Module
    if mode.startswith("fsdp"):
        network = shard_student_teacher(model)
    else:
        network = torch.nn.parallel.DistributedDataParallel(model)
    dataset = make_dataset()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=2, sampler=ResumableDistributedSampler(dataset, seed=0),
        collate_fn=SSLCollate(patch_size=16, masking=config.masking), drop_last=True,
        generator=torch.Generator().manual_seed(0),
    )
    handlers: list[Any] = [SSLCheckpointHandler(out / mode, save_interval=3, load_path=load_path),
                           TeacherExportHandler(out / mode / "teacher_hf", model_path=out / mode / "teacher.pt")]
    return SSLTrainer(
        device="cpu", max_epochs=max_epochs, train_data_loader=loader, network=network,
        optimizer=torch.optim.AdamW(model.param_groups()),  # after sharding
        schedules=config.build_schedules(2 * dist.get_world_size(), total_iters=max_epochs * len(loader)),
        train_handlers=handlers,
    )


def run(mode: str, out: Path, max_epochs: int = 2, precision: str = "fp32", load: str | None = None) -> dict[str, Any]:
    trainer = build(mode, out, max_epochs, precision, load_path=out / load / "checkpoint_00000003.pt" if load else None)
    losses = record_losses(trainer)
    trainer.run()
    return {"losses": losses, "student": full_tensor_state(trainer.model.student)}


def main(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    out = Path(out_dir)
    try:
        results = {
            "ddp": run("ddp", out),
            "fsdp": run("fsdp", out),
            "fsdp_from_ddp": run("fsdp_from_ddp", out, load="ddp"),
            "ddp_from_fsdp": run("ddp_from_fsdp", out, load="fsdp"),
            "ddp_bf16": run("ddp_bf16", out, max_epochs=1, precision="bf16"),
            "fsdp_bf16": run("fsdp_bf16", out, max_epochs=1, precision="bf16"),
        }
        torch.save(results, out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])

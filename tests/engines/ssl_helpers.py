"""Tiny, fully seeded SSL training setups shared by the engine tests and the DDP worker script.

Images are generated tensors (no files), the model is ``tiny_vit_p16`` with a small head, crops are 32 px global /
16 px local, so an iteration takes a fraction of a second on one CPU core.
"""

from __future__ import annotations

from typing import Any

import monai
import torch
from ignite.engine import Events

from raddino_monai.data.collate import SSLCollate
from raddino_monai.data.samplers import ResumableDistributedSampler, SeededDataset
from raddino_monai.engines import SSLTrainer
from raddino_monai.ssl import SSLConfig, StudentTeacher
from raddino_monai.transforms import MultiCropConfig, MultiCropd

N_IMAGES = 12


def tiny_config(masking: dict[str, Any] | None = None, **loss: Any) -> SSLConfig:
    """Tiny model, small heads, no drop-path (drop-path draws would differ between DDP and one process)."""
    return SSLConfig.tiny(
        backbone={"drop_path_rate": 0.0},
        heads={"n_prototypes": 64, "hidden_dim": 32, "bottleneck_dim": 16},
        loss=loss,
        masking=masking or {},
        precision="fp32",
    )


def ddp_config() -> SSLConfig:
    """DINO loss only: KoLeo is per-GPU by design [DV2] and iBOT masks are drawn per (local) batch, so only the DINO
    term is expected to match between 2 ranks x batch 2 and 1 process x batch 4."""
    return tiny_config(masking={"mask_sample_probability": 0.0}, ibot_loss_weight=0.0, koleo_loss_weight=0.0)


def make_dataset(seed: int = 0) -> SeededDataset:
    """``N_IMAGES`` random grey images through MultiCropd (2 x 32 px global, 2 x 16 px local)."""
    gen = torch.Generator().manual_seed(1234)
    items = [{"image": torch.rand(1, 40, 36, generator=gen)} for _ in range(N_IMAGES)]
    crops = MultiCropConfig.tiny(global_size=32, local_size=16, n_local=2)
    return SeededDataset(monai.data.Dataset(items, transform=MultiCropd("image", crops)), seed=seed)


def make_trainer(
    batch_size: int = 4,
    max_epochs: int = 2,
    config: SSLConfig | None = None,
    init_seed: int = 0,
    num_replicas: int | None = None,
    rank: int | None = None,
    handlers: list[Any] | None = None,
    wrap_ddp: bool = False,
    run_lock: Any = None,
    dataset: Any = None,
) -> SSLTrainer:
    """A ready-to-run :class:`SSLTrainer` whose model init depends only on ``init_seed`` (``dataset``: default
    :func:`make_dataset`)."""
    config = config or tiny_config()
    torch.manual_seed(init_seed)
    model = StudentTeacher.from_config(config)
    dataset = dataset if dataset is not None else make_dataset()
    sampler = ResumableDistributedSampler(dataset, seed=0, num_replicas=num_replicas, rank=rank)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=SSLCollate(patch_size=16, masking=config.masking),
        drop_last=True,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.AdamW(model.param_groups())
    network: torch.nn.Module = torch.nn.parallel.DistributedDataParallel(model) if wrap_ddp else model
    world = num_replicas or 1
    schedules = config.build_schedules(batch_size * world, total_iters=max_epochs * len(loader))
    return SSLTrainer(
        device="cpu",
        max_epochs=max_epochs,
        train_data_loader=loader,
        network=network,
        optimizer=optimizer,
        schedules=schedules,
        train_handlers=handlers,
        run_lock=run_lock,
    )


def make_file_dataset(folder: Any, n: int = N_IMAGES, bad: Any = (), seed: int = 0) -> Any:
    """``n`` 40x36 PNG files in ``folder`` (those in ``bad`` truncated) through LoadCXRd + MultiCropd, wrapped as the
    bundle does: ``SeededDataset(SkipBadFiles(Dataset, substitute=True))``."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from raddino_monai.data.bad_files import SkipBadFiles
    from raddino_monai.transforms import LoadCXRd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    items = []
    for i in range(n):
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (40, 36), dtype=np.uint8)).save(path)
        if i in set(bad):
            path.write_bytes(path.read_bytes()[:60])
        items.append({"image": str(path)})
    crops = MultiCropConfig.tiny(global_size=32, local_size=16, n_local=2)
    transform = monai.transforms.Compose([LoadCXRd("image"), MultiCropd("image", crops)])
    return SeededDataset(SkipBadFiles(monai.data.Dataset(items, transform=transform), substitute=True), seed=seed)


def record_losses(trainer: SSLTrainer) -> list[float]:
    """Attach a recorder of the total loss per iteration; returns the (growing) list."""
    losses: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output["losses"]["loss"]))
    return losses


def student_state(trainer: SSLTrainer) -> dict[str, torch.Tensor]:
    """Detached copy of the student's parameters."""
    return {k: v.detach().clone() for k, v in trainer.model.student.state_dict().items()}


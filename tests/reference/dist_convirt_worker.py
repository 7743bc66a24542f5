"""One rank of a 2-process gloo run of the ConVIRT loss (started by tests/losses/test_convirt.py).

Usage: ``python dist_convirt_worker.py RANK WORLD_SIZE INIT_FILE OUT_DIR``. Every rank builds the same global batch
and the same two projection layers from fixed seeds, keeps its own rows, wraps the projections in
``DistributedDataParallel`` and back-propagates :class:`ConVIRTLoss`. For each row split in :data:`SPLITS` it saves
the local loss terms, the DDP-averaged parameter gradients, the gradients of its input rows and, as a negative
control, the parameter gradients obtained when the other ranks' embeddings are gathered *without* gradient (the usual
bug), to ``OUT_DIR/rank{RANK}.pt``.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from raddino_monai.losses.convirt import ConVIRTLoss

N_PAIRS = 8
IMAGE_DIM, TEXT_DIM, PROJ_DIM = 12, 10, 6
SPLITS = {"equal": (4, 4), "unequal": (3, 5)}  # rows per rank
TEMPERATURE, WEIGHT = 0.1, 0.75


class Projections(nn.Module):
    """Two linear projections standing in for the image and text towers."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Linear(IMAGE_DIM, PROJ_DIM)
        self.text = nn.Linear(TEXT_DIM, PROJ_DIM)

    def forward(self, images: torch.Tensor, texts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(images), self.text(texts)


def global_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2024)
    return torch.randn(N_PAIRS, IMAGE_DIM, generator=g), torch.randn(N_PAIRS, TEXT_DIM, generator=g)


def make_model() -> Projections:
    torch.manual_seed(7)
    return Projections()


def _detached_gather(x: torch.Tensor, counts: tuple[int, ...], rank: int) -> torch.Tensor:
    """The buggy variant: other ranks' rows without gradient, own rows with gradient."""
    padded = x.new_zeros((max(counts), x.shape[1]))
    padded[: x.shape[0]] = x.detach()
    chunks = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(chunks, padded)
    parts = [c[:n] for c, n in zip(chunks, counts)]
    parts[rank] = x
    return torch.cat(parts)


def _no_grad_gather_grads(local_x: torch.Tensor, local_t: torch.Tensor, counts: tuple[int, ...], rank: int) -> dict:
    model = DistributedDataParallel(make_model())
    v, u = model(local_x, local_t)
    v, u = nn.functional.normalize(v, dim=-1), nn.functional.normalize(u, dim=-1)
    all_v, all_u = _detached_gather(v, counts, rank), _detached_gather(u, counts, rank)
    offset = sum(counts[:rank])
    targets = torch.arange(offset, offset + v.shape[0])
    per = WEIGHT * nn.functional.cross_entropy(v @ all_u.t() / TEMPERATURE, targets, reduction="none")
    per = per + (1 - WEIGHT) * nn.functional.cross_entropy(u @ all_v.t() / TEMPERATURE, targets, reduction="none")
    (per.sum() * len(counts) / sum(counts)).backward()
    return {k: p.grad.clone() for k, p in model.module.named_parameters()}


def run_split(counts: tuple[int, ...], rank: int) -> dict:
    images, texts = global_batch()
    start = sum(counts[:rank])
    local_x = images[start : start + counts[rank]].clone().requires_grad_(True)
    local_t = texts[start : start + counts[rank]].clone().requires_grad_(True)
    model = DistributedDataParallel(make_model())
    terms = ConVIRTLoss(temperature=TEMPERATURE, image_to_text_weight=WEIGHT).terms(*model(local_x, local_t))
    terms["loss"].backward()
    return {
        "terms": {k: v.detach().clone() for k, v in terms.items()},
        "grads": {k: p.grad.clone() for k, p in model.module.named_parameters()},
        "input_grads": (local_x.grad.clone(), local_t.grad.clone()),
        "no_grad_gather_grads": _no_grad_gather_grads(local_x.detach(), local_t.detach(), counts, rank),
    }


def main(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    results = {name: run_split(counts, rank) for name, counts in SPLITS.items()}
    torch.save(results, f"{out_dir}/rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])

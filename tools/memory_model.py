"""python tools/memory_model.py estimate [--gpus 16] [--gpu_gb 80] | python tools/memory_model.py check

``estimate``: per-GPU memory of one RAD-DINO SSL step (2 x 518 px global + 8 x 196 px local crops per image, bf16)
for ViT-B/14, ViT-L/14 and ViT-g/14 under DDP and FSDP2, and the largest per-GPU batch that fits the card, from
:func:`raddino_monai.ssl.memory_model.estimate_step_memory`.

``check``: the same model against memory measured on this CPU (torch's ``MemTracker``, one training step after a
warm-up) for the tiny recipe (tiny ViT, 2 x 112 + 4 x 48 px) and ViT-S/14 (2 x 224 + 8 x 98 px), fp32 and bf16;
prints each category and the relative error of the predicted peak.
"""

from __future__ import annotations

import fire

from raddino_monai.ssl import SSLConfig
from raddino_monai.ssl.memory_model import (
    estimate_step_memory,
    max_batch_per_gpu,
    measure_step_memory,
    model_sizes,
)
from raddino_monai.transforms import MultiCropConfig

ARCHS = {"ViT-B/14": "raddino_vitb14", "ViT-L/14": "dinov2_vitl14", "ViT-g/14": "dinov2_vitg14"}
GIB = 2**30


def _crops(recipe: str) -> dict[int, int]:
    crops = MultiCropConfig.from_recipe(recipe)
    return {crops.global_size: crops.n_global, crops.local_size: crops.n_local}


def estimate(gpus: int = 16, gpu_gb: float = 80.0, batch: int = 40, precision: str = "bf16") -> None:
    """Print the per-GPU table for the RAD-DINO recipe.

    Args:
        gpus: GPUs the FSDP shards are spread over (4 nodes x 4 GPUs = 16).
        gpu_gb: memory per GPU in GB (1e9 bytes).
        batch: per-GPU batch of the memory columns ([CARD] 40).
        precision: compute precision.
    """
    crops = _crops("raddino")
    print(f"per GPU, {precision}, crops {crops}, batch {batch}, {gpus} GPUs, {gpu_gb:g} GB cards (GiB below)")
    print(f"{'model':9} {'mode':13} {'params':>7} {'grads':>6} {'optim':>6} {'gather':>6} {'act/img 518':>11} "
          f"{'act/img 196':>11} {'heads/img':>9} {'peak@' + str(batch):>8} {'max batch':>9}")
    for label, arch in ARCHS.items():
        config = SSLConfig.raddino(backbone={"name": arch})
        sizes = model_sizes(config)
        for mode, sharding, ckpt in (("DDP", "ddp", False), ("FSDP", "fsdp", False), ("FSDP+ckpt", "fsdp", True),
                                     ("FSDP3+ckpt", "fsdp", True)):
            kw = dict(config=config, crop_sizes=crops, precision=precision, sharding=sharding, world_size=gpus,
                      grad_checkpointing=ckpt, reshard_after_forward=mode.startswith("FSDP3"), sizes=sizes)
            est = estimate_step_memory(batch_per_gpu=batch, **kw)
            fit = max_batch_per_gpu(gpu_bytes=gpu_gb * 1e9, **kw)
            g = est.as_gib()
            print(f"{label:9} {mode:13} {g['params']:7.2f} {g['grads']:6.2f} {g['optimizer']:6.2f} {g['gathered']:6.2f} "
                  f"{g['act/img 518px']:11.3f} {g['act/img 196px']:11.3f} {g['act/img heads']:9.3f} {g['peak']:8.1f} "
                  f"{fit:9d}")
    print("FSDP = SHARD_GRAD_OP (reshard_after_forward=False, [DV2]); FSDP3 = ZeRO-3 (reshard_after_forward=True); "
          "ckpt = activation checkpointing; max batch keeps 10 % of the card free.")


def check(batch: int = 1) -> None:
    """Measure tiny (batch 8) and ViT-S (``batch``) steps on CPU (fp32, bf16) and print predicted vs measured."""
    cases = [
        ("tiny", SSLConfig.tiny(), _crops("tiny"), 8),
        ("ViT-S/14", SSLConfig.raddino(backbone={"name": "dinov2_vits14"}), {224: 2, 98: 8}, batch),
    ]
    print(f"{'model':9} {'prec':5} {'batch':>5} {'category':12} {'predicted MiB':>13} {'measured MiB':>12} {'error':>7}")
    for label, config, crops, n in cases:
        for precision in ("fp32", "bf16"):
            est = estimate_step_memory(config, n, crops, precision=precision, sharding="none")
            measured = measure_step_memory(config, n, crops, precision=precision)
            predicted = {"params": est.params, "optimizer": est.optimizer, "activations": est.activations,
                         "peak": est.peak}
            for key, value in predicted.items():
                err = (value - measured[key]) / measured[key]
                print(f"{label:9} {precision:5} {n:5d} {key:12} {value / 2**20:13.1f} {measured[key] / 2**20:12.1f} "
                      f"{err:+7.1%}")
            print(f"{'':9} {'':5} {'':5} {'(measured grads at peak':23} {measured['grads'] / 2**20:.1f} MiB, "
                  f"temporaries {measured['temporaries'] / 2**20:.1f} MiB)")


if __name__ == "__main__":
    fire.Fire({"estimate": estimate, "check": check})

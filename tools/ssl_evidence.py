"""Does the SSL engine learn? Pretrain a tiny ViT on CPU, then frozen linear probes (view, sex) vs random init.

    python tools/ssl_evidence.py --datalist DATALIST.json --output_dir runs/ssl_evidence --max_minutes 5

The datalist (JSON/CSV, docs/architecture.md) needs ``image`` and, for the probes, ``patient_id`` (grouped splits),
``view`` (PA / AP / lateral, DICOM ViewPosition strings) and ``sex`` (M / F). Prints training images/s, the share of
each step spent waiting for data, and balanced accuracies; writes ``results.json``, ``results.png`` and TensorBoard
logs under ``--output_dir``. Library: :func:`raddino_monai.engines.evidence.ssl_evidence`.
"""

from __future__ import annotations

import json

import fire

from raddino_monai.engines.evidence import ssl_evidence


def main(
    datalist: str,
    output_dir: str = "runs/ssl_evidence",
    max_iters: int = 300,
    max_minutes: float = 5.0,
    arch: str = "tiny_vit_p16",
    batch_size: int = 16,
    num_workers: int = 1,
    probe_size: int = 112,
    seed: int = 0,
) -> None:
    """Run :func:`~raddino_monai.engines.evidence.ssl_evidence` and print its results."""
    results = ssl_evidence(
        datalist, output_dir, max_iters, max_minutes, arch, batch_size, num_workers, probe_size, seed
    )
    stats = results["pretraining"]
    print(
        f"pretraining: {int(stats['iterations'])} iterations, {stats['images_per_s']:.1f} images/s, "
        f"{100 * stats['data_wait_share']:.0f}% of each step waiting for data, final loss {stats['final_loss']:.3f}"
    )
    for attribute, rows in results["probes"].items():
        line = ", ".join(f"{name} {r['balanced_accuracy']:.3f} ± {r['std']:.3f}" for name, r in rows.items())
        ref = rows["pretrained"]
        print(f"{attribute} probe (balanced accuracy, chance {ref['chance']:.2f}, n={int(ref['n'])}): {line}")
    print(json.dumps({"output_dir": output_dir}))


if __name__ == "__main__":
    fire.Fire(main)

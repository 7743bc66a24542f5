"""Zero-shot image -> image retrieval of a frozen encoder, Precision@k (ConVIRT's CheXpert 8x200 protocol).

    python tools/retrieval.py --encoder raddino_vitb14:/models/rad-dino --datalist data/cxr.json \
        --output_dir results/retrieval

``--encoder`` is ``arch`` or ``arch:weights`` (a local HF folder or .safetensors). Queries and candidates: the
datalist's ``query`` / ``candidate`` sections (``--query_split``, ``--candidate_split``), else every labelled image
queries all the others, never its own patient (``--exclude_same_patient``). The CheXpert 8x200 sets:
``--convirt_dir convirt/image-retrieval --image_root /data/chexpert`` (the folder holding CheXpert-v1.0-small/).
Without ``--datalist`` / ``--convirt_dir`` the embedded sample data is used. Outputs in ``--output_dir``:
``results.{csv,md}`` (Precision@k, mean ± std over queries), ``per_class.csv``, ``per_query.csv``, ``config.json``,
``embeddings.npz``. See ``raddino_monai.evaluation.image_retrieval_job``.
"""

from __future__ import annotations

from collections.abc import Sequence

import fire

from raddino_monai.evaluation.retrieval import DEFAULT_KS
from raddino_monai.evaluation.retrieval_run import RetrievalConfig, image_retrieval_job


def main(
    encoder: str,
    datalist: str | None = None,
    output_dir: str = "results/retrieval",
    convirt_dir: str | None = None,
    image_root: str | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    label_key: str = "label",
    pooling: str = "cls",
    query_split: str = "query",
    candidate_split: str = "candidate",
    exclude_same_patient: bool = True,
    image_size: int | None = None,
    fit: str = "crop",
    batch_size: int = 16,
    device: str = "cpu",
    num_workers: int = 0,
) -> str:
    """Run image -> image retrieval and print the Precision@k table (see :class:`RetrievalConfig`)."""
    config = RetrievalConfig(
        ks=tuple(int(k) for k in ks), label_key=label_key, pooling=pooling, query_split=query_split,
        candidate_split=candidate_split, exclude_same_patient=exclude_same_patient, image_size=image_size, fit=fit,
        batch_size=batch_size, device=device, num_workers=num_workers,
    )
    result = image_retrieval_job(encoder, output_dir, config, datalist=datalist, convirt_dir=convirt_dir,
                                 image_root=image_root)
    return result["files"]["markdown"].read_text()


if __name__ == "__main__":
    fire.Fire(main)

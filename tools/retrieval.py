"""Zero-shot retrieval with Precision@k (ConVIRT's CheXpert 8x200 protocol): image -> image for any frozen encoder,
text -> image and image -> text for a trained ConVIRT run.

    python tools/retrieval.py --encoder raddino_vitb14:/models/rad-dino --datalist data/cxr.json \
        --output_dir results/retrieval
    python tools/retrieval.py --convirt_run runs/convirt --datalist data/cxr_reports.json \
        --output_dir results/retrieval_text

``--convirt_run`` is a ConVIRT run folder (``bundles/convirt`` / ``convirt_pretrain_job`` output): its projected
embeddings rank images for each labelled report (text -> image) and reports for each image (image -> text); with
``--convirt_dir .../text-retrieval`` the CheXpert 8x200 text queries. See
``raddino_monai.experiments.convirt_embedders.convirt_retrieval_job``.

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
from raddino_monai.experiments.convirt_embedders import convirt_retrieval_job


def main(
    encoder: str | None = None,
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
    convirt_run: str | None = None,
    report_key: str = "report",
) -> str:
    """Run image -> image retrieval of ENCODER, or text <-> image retrieval of CONVIRT_RUN, and print the Precision@k
    table (see :class:`RetrievalConfig`)."""
    if (encoder is None) == (convirt_run is None):
        raise ValueError("give exactly one of --encoder (image -> image) and --convirt_run (text <-> image); found "
                         f"encoder={encoder!r}, convirt_run={convirt_run!r}.")
    config = RetrievalConfig(
        ks=tuple(int(k) for k in ks), label_key=label_key, pooling=pooling, query_split=query_split,
        candidate_split=candidate_split, exclude_same_patient=exclude_same_patient, image_size=image_size, fit=fit,
        batch_size=batch_size, device=device, num_workers=num_workers,
    )
    if convirt_run is not None:
        result = convirt_retrieval_job(convirt_run, output_dir, config, datalist=datalist, convirt_dir=convirt_dir,
                                       image_root=image_root, report_key=report_key)
    else:
        result = image_retrieval_job(encoder, output_dir, config, datalist=datalist, convirt_dir=convirt_dir,
                                     image_root=image_root)
    return result["files"]["markdown"].read_text()


if __name__ == "__main__":
    fire.Fire(main)

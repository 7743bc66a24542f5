"""python tools/extract_embeddings.py INPUTS OUT.npz --weights /models/rad-dino [--batch_size 16] [--pooling cls,mean]

Batched, resumable frozen-feature extraction with a RAD-DINO backbone. INPUTS is a datalist (JSON/CSV), an image
folder or a list of paths; OUT is ``.npz`` or ``.safetensors`` with ``ids`` and ``cls`` / ``mean`` / ``patch`` arrays.
Other options: ``--arch``, ``--device cuda:0``, ``--bf16``, ``--num_workers``, ``--resume False``, ``--fit pad``,
``--split test``, ``--cache_dir DIR`` (reuse preprocessed images across runs), ``--resize_backend torch`` (float
resize instead of the default bit-exact ``BitImageProcessor`` PIL path), ``--max_bad_fraction 0.05`` (skip and count
up to 5 % unreadable images, listed in ``OUT_STEM.bad_files.csv``; the default 0 stops at the first, naming it).
See ``raddino_monai.inference.extract_embeddings``.
"""

from __future__ import annotations

import fire

from raddino_monai.inference import extract_embeddings

if __name__ == "__main__":
    fire.Fire(extract_embeddings)

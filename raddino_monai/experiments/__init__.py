"""Experiments that combine the library's layers: pretrain with the SSL engine, then judge the encoder with the
evaluation and inference code.

* :mod:`.ssl_evidence`: pretrain a tiny ViT on CPU, then probe its teacher against random init (``tools/ssl_evidence.py``);
  :mod:`.evidence_summary` (per-run and over-seeds summaries, paired sign test), :mod:`.evidence_plots` (PNG figures).
* :mod:`.ecamp_pretrain`: ECAMP pretraining on the PretrainTrainer (``ecamp_pretrain_job``: items in, the
  exported image-encoder HF folder out; the pieces ``bundles/ecamp`` names).
* :mod:`.compare_pretraining`: pretrain several methods (:mod:`.pretraining_methods`: random init, RAD-DINO-style SSL,
  ConVIRT, ECAMP) with one budget, then the same frozen evaluations (:mod:`.frozen_evaluations`) on held-out
  patients (:mod:`.heldout`), paired tables (:mod:`.compare_summary`) (``tools/compare_pretraining.py``).
* :mod:`.convirt_pretrain`: ConVIRT pretraining (``convirt_pretrain_job``); :mod:`.convirt_embedders`: a trained run's
  projected image / text embedders and its text <-> image retrieval (``tools/retrieval.py --convirt_run``).

Import the submodule you need, e.g. ``from raddino_monai.experiments.ssl_evidence import ssl_evidence``; this package
file imports nothing, so importing one experiment does not load the others.
"""

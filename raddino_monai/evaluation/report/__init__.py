"""Report-generation metrics: ROUGE-L / BLEU-4 with bootstrap CIs, clinical F1 from the offline CheXpert rule
labeler, and CheXbert / RadGraph adapters that load local checkpoints (``docs/report_metrics.md``).

Import the submodule you need (``labeler``, ``lexical``, ``clinical``, ``bootstrap``, ``chexbert``, ``radgraph``,
``evaluate``, ``mesh``, ``entity_sentence``); this package file imports nothing, so the labeler works without the
``report`` extra.
"""

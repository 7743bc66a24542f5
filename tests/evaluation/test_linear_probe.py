from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raddino_monai.evaluation.features import FrozenEncoder
from raddino_monai.evaluation.linear_probe import (
    LinearProbeConfig,
    evaluate_linear_probe,
    init_linear,
    train_linear_head,
)
from raddino_monai.evaluation.probe_model import ProbeClassifier


def _config(**kw: object) -> LinearProbeConfig:
    base = dict(task="multiclass", image_size=28, epochs=2, batch_size=8, seeds=(0, 1), label_fractions=(0.5, 1.0),
                augment=False, feature_batch_size=16)
    base.update(kw)
    return LinearProbeConfig(**base)  # type: ignore[arg-type]


def test_paper_defaults() -> None:
    cfg = LinearProbeConfig()
    assert (cfg.base_lr, cfg.batch_size, cfg.epochs, cfg.augment) == (5e-5, 96, 100, True)
    assert cfg.label_fractions == (0.01, 0.1, 1.0) and len(cfg.seeds) == 5
    with pytest.raises(ValueError, match="valid values"):
        LinearProbeConfig(task="regression")


def test_cached_fast_path_end_to_end(tiny_backbone: torch.nn.Module, sample_items: dict) -> None:
    enc = FrozenEncoder(tiny_backbone, "cls_patchmean")
    res = evaluate_linear_probe(enc, sample_items["training"], sample_items["test"], _config())
    assert res["classes"] == sorted({it["label"] for it in sample_items["training"] + sample_items["test"]})
    assert len(res["runs"]) == 4 and {r["fraction"] for r in res["runs"]} == {0.5, 1.0}
    assert all(r["n_train"] <= len(sample_items["training"]) for r in res["runs"])
    mean, std = res["summary"][1.0]["accuracy"]
    assert 0.0 <= mean <= 1.0 and std >= 0.0
    again = evaluate_linear_probe(enc, sample_items["training"], sample_items["test"], _config())
    assert again["runs"][0]["auroc"] == res["runs"][0]["auroc"] or math.isnan(res["runs"][0]["auroc"])


def test_augmented_path_runs(tiny_backbone: torch.nn.Module, sample_items: dict) -> None:
    res = evaluate_linear_probe(FrozenEncoder(tiny_backbone), sample_items["training"][:8], sample_items["test"],
                           _config(augment=True, epochs=1, seeds=(0,), label_fractions=(1.0,)))
    assert len(res["runs"]) == 1 and np.isfinite(res["runs"][0]["final_loss"])


def test_head_learns_separable_features() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    x = torch.randn(64, 8, generator=gen) + y[:, None] * 3.0
    head = init_linear(torch.nn.Linear(8, 1), 0)
    cfg = _config(task="binary", epochs=200, base_lr=0.1, weight_decay=0.0)
    hist = train_linear_head(head, lambda e: [(x, y)], 1, cfg)
    assert hist[-1] < hist[0]
    assert ((head(x)[:, 0] > 0).long() == y).float().mean() > 0.9


def test_probe_classifier_no_backbone_grad(tiny_backbone: torch.nn.Module) -> None:
    net = ProbeClassifier(tiny_backbone, 3, pooling="last_n_cls", n_last_blocks=2)
    net(torch.rand(2, 3, 28, 28)).sum().backward()
    assert all(p.grad is None for p in tiny_backbone.parameters()) and net.head.weight.grad is not None


def test_old_names_warn_and_serve_the_new_functions() -> None:
    import raddino_monai.evaluation as evaluation
    import raddino_monai.evaluation.probe_model as probe_model
    import raddino_monai.evaluation.runners as runners

    with pytest.warns(DeprecationWarning, match="evaluate_linear_probe"):
        assert evaluation.run_linear_probe is evaluate_linear_probe
    with pytest.warns(DeprecationWarning, match="linear_probe_job"):
        assert runners.linear_probe_run is runners.linear_probe_job
    with pytest.warns(DeprecationWarning, match="PROBE_TASKS"):
        assert set(probe_model.TASK_LOSSES) == {"binary", "multiclass", "multilabel"}
    with pytest.warns(DeprecationWarning, match="linear_probe.init_linear"):
        assert probe_model.init_linear is init_linear

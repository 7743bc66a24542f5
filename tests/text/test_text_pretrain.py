"""The pretraining loop: loss falls, outputs written, exact resume after a crash, determinism by seed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from text_tiny import TINY_BERT, TINY_LM, TINY_TRAIN

from raddino_monai.engines.handlers import find_checkpoints
from raddino_monai.text.models import build_causal_lm, build_masked_lm
from raddino_monai.text.pretrain import param_groups, pretrain_text_model
from raddino_monai.text.tokenizer import train_bpe_tokenizer, train_wordpiece_tokenizer
from raddino_monai.text.trainer import TextPretrainer


class Record:
    """Losses per iteration; optionally crash after ``crash_at`` (the checkpoint of that iteration is written first)."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.losses: dict[int, float] = {}
        self.crash_at = crash_at

    def attach(self, engine) -> None:  # noqa: ANN001
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine) -> None:  # noqa: ANN001
        self.losses[engine.state.iteration] = engine.state.output["losses"]["loss"]
        if engine.state.iteration == self.crash_at:
            raise RuntimeError("simulated crash")


def _lm(corpus: list[str]):  # noqa: ANN202
    tok = train_bpe_tokenizer(corpus, 300)
    torch.manual_seed(0)
    return build_causal_lm(TINY_LM, tok), tok


def test_causal_pretraining_learns_and_writes(corpus: list[str], tmp_path: Path) -> None:
    model, tok = _lm(corpus)
    record = Record()
    config = dataclasses.replace(TINY_TRAIN, epochs=8, lr=3e-3)
    summary = pretrain_text_model(model, tok, corpus, tmp_path, "causal", config, handlers=[record])
    steps = len(record.losses)
    assert summary["steps"] == summary["steps_run"] == steps == 8 * 5  # 19 training reports, batch 4
    first, last = record.losses[1], sum(list(record.losses.values())[-5:]) / 5
    assert last < 0.7 * first
    assert summary["val_loss"] < first and summary["n_val"] == 5 and summary["parameters"] > 0
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    assert find_checkpoints(tmp_path / "checkpoints")[-1].name == f"checkpoint_{steps:08d}.pt"
    assert any((tmp_path / "tb").iterdir())


def test_mlm_pretraining_runs(corpus: list[str], tmp_path: Path) -> None:
    tok = train_wordpiece_tokenizer(corpus, 200)
    torch.manual_seed(0)
    summary = pretrain_text_model(build_masked_lm(TINY_BERT, tok), tok, corpus, tmp_path, "mlm", TINY_TRAIN,
                                  mlm=TINY_BERT)  # fmt: skip
    assert summary["objective"] == "mlm" and torch.isfinite(torch.tensor(summary["val_loss"]))


def test_exact_resume_after_a_crash(corpus: list[str], tmp_path: Path) -> None:
    model, tok = _lm(corpus)
    full = Record()
    pretrain_text_model(model, tok, corpus, tmp_path / "full", "causal", TINY_TRAIN, handlers=[full])
    model, tok = _lm(corpus)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain_text_model(model, tok, corpus, tmp_path / "cut", "causal", TINY_TRAIN, handlers=[Record(crash_at=4)])
    assert [p.name for p in find_checkpoints(tmp_path / "cut" / "checkpoints")] == ["checkpoint_00000004.pt"]
    model, tok = _lm(corpus)  # a fresh process would rebuild the same way
    rest = Record()
    summary = pretrain_text_model(model, tok, corpus, tmp_path / "cut", "causal", TINY_TRAIN, handlers=[rest])
    assert summary["resumed_from"].endswith("checkpoint_00000004.pt")
    assert sorted(rest.losses) == list(range(5, 11))
    assert rest.losses == pytest.approx({k: v for k, v in full.losses.items() if k > 4}, abs=0, rel=0)


def test_trainer_rejects_unknown_precision(corpus: list[str]) -> None:
    model, _ = _lm(corpus)
    optimizer = torch.optim.AdamW(param_groups(model, 0.1))
    with pytest.raises(ValueError, match="valid values"):
        TextPretrainer("cpu", 1, [], model, optimizer, lr_schedule=None, precision="fp16")  # type: ignore[arg-type]
    groups = param_groups(model, 0.1)
    assert all(p.dim() >= 2 for p in groups[0]["params"]) and all(p.dim() < 2 for p in groups[1]["params"])
    assert groups[1]["weight_decay"] == 0.0

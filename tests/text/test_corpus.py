"""Truncation policy, sequence encoding and the two collates (raddino_monai.text.corpus)."""

from __future__ import annotations

import pytest
import torch

from raddino_monai.data.samplers import SEED_KEY
from raddino_monai.text.corpus import (
    CausalLMCollate,
    MLMCollate,
    TokenizedReports,
    encode_report,
    mask_tokens,
    split_validation,
    truncate_report,
)
from raddino_monai.text.tokenizer import train_bpe_tokenizer, train_wordpiece_tokenizer

REPORT = "No pleural effusion or pneumothorax. Heart size is normal. The lungs are clear."


@pytest.fixture
def bpe(corpus: list[str]):  # noqa: ANN201
    return train_bpe_tokenizer(corpus, 300)


def _n(tok, text: str) -> int:  # noqa: ANN001
    return len(tok(text, add_special_tokens=False)["input_ids"])


def test_truncation_keeps_whole_sentences(bpe) -> None:  # noqa: ANN001
    two = "No pleural effusion or pneumothorax. Heart size is normal."
    assert truncate_report(REPORT, bpe, _n(bpe, REPORT)) == REPORT
    assert truncate_report(REPORT, bpe, _n(bpe, REPORT) - 1) == two
    assert truncate_report(REPORT, bpe, _n(bpe, two)) == two
    first = "No pleural effusion or pneumothorax."
    assert truncate_report(REPORT, bpe, _n(bpe, first) + 1) == first
    # a first sentence longer than the budget is cut at the token limit
    cut = truncate_report(REPORT, bpe, 3)
    assert _n(bpe, cut) == 3 and first.startswith(cut)
    with pytest.raises(ValueError, match=">= 1"):
        truncate_report(REPORT, bpe, 0)


def test_encode_causal_and_mlm(bpe, corpus: list[str]) -> None:  # noqa: ANN001
    body = bpe(REPORT, add_special_tokens=False)["input_ids"]
    assert encode_report(REPORT, bpe, len(body) + 2, "causal") == [bpe.bos_token_id, *body, bpe.eos_token_id]
    short = encode_report(REPORT, bpe, 5, "causal")  # hard cut: no </s>, the model must not learn to stop there
    assert len(short) == 4 and short[0] == bpe.bos_token_id and bpe.eos_token_id not in short
    wp = train_wordpiece_tokenizer(corpus, 200)
    ids = encode_report(REPORT, wp, 6, "mlm")
    assert len(ids) == 6 and ids[0] == wp.cls_token_id and ids[-1] == wp.sep_token_id
    with pytest.raises(ValueError, match="special tokens"):
        encode_report(REPORT, bpe, 10, "mlm")
    with pytest.raises(ValueError, match="valid values"):
        encode_report(REPORT, bpe, 10, "seq2seq")


def test_causal_collate(bpe) -> None:  # noqa: ANN001
    ds = TokenizedReports(["No effusion.", REPORT], bpe, 64, "causal")
    batch = CausalLMCollate(bpe.pad_token_id)([ds[0], ds[1]])
    n0 = len(ds[0]["input_ids"])
    assert batch["input_ids"].shape == (2, len(ds[1]["input_ids"]))
    assert batch["attention_mask"][0].tolist() == [1] * n0 + [0] * (batch["input_ids"].shape[1] - n0)
    assert (batch["labels"][0, n0:] == -100).all() and batch["labels"][0, :n0].tolist() == ds[0]["input_ids"]
    assert (batch["input_ids"][0, n0:] == bpe.pad_token_id).all()


def test_mask_tokens_statistics() -> None:
    ids = torch.full((200, 100), 7)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False
    generator = torch.Generator().manual_seed(0)
    masked, labels = mask_tokens(ids, maskable, mask_token_id=1, vocab_size=50, generator=generator)
    selected = labels != -100
    assert not selected[:, 0].any() and (labels[selected] == 7).all()
    assert selected.float().mean().item() == pytest.approx(0.15 * 99 / 100, abs=0.01)
    share_mask = (masked[selected] == 1).float().mean().item()
    share_kept = (masked[selected] == 7).float().mean().item()
    assert share_mask == pytest.approx(0.8, abs=0.03) and share_kept == pytest.approx(0.1 + 0.1 / 50, abs=0.03)
    assert (masked[~selected] == 7).all()
    # nothing drawn: one maskable token is still selected, so the loss is defined
    _, few = mask_tokens(ids[:1, :3], maskable[:1, :3], 1, 50, torch.Generator().manual_seed(0), probability=1e-9)
    assert (few != -100).sum() == 1 and few[0, 0] == -100


def test_mlm_collate_is_seeded_by_items(corpus: list[str]) -> None:
    wp = train_wordpiece_tokenizer(corpus, 200)
    ds = TokenizedReports(corpus[:4], wp, 32, "mlm")
    items = [{**ds[i], SEED_KEY: 100 + i} for i in range(4)]
    a = MLMCollate(wp)(items)
    b = MLMCollate(wp, seed=5)([dict(i) for i in items])
    torch.testing.assert_close(a["input_ids"], b["input_ids"])  # same item seeds, same masks, whatever the collate
    c = MLMCollate(wp)([{**i, SEED_KEY: i[SEED_KEY] + 1} for i in items])
    assert not torch.equal(a["labels"], c["labels"])
    special = torch.isin(a["input_ids"], torch.tensor(wp.all_special_ids)) & (a["labels"] == -100)
    assert (a["labels"][a["attention_mask"] == 0] == -100).all() and special.any()


def test_split_validation() -> None:
    train, val = split_validation(20, 0.2, seed=0)
    assert len(val) == 4 and sorted([*train, *val]) == list(range(20))
    assert (split_validation(20, 0.2, seed=0)[1] == val).all()
    assert len(split_validation(2, 0.9, seed=0)[0]) == 1 and len(split_validation(5, 0.0, 0)[1]) == 0

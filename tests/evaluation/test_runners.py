from __future__ import annotations

import torch

from raddino_monai.evaluation.runners import load_encoder_backbone, parse_encoder


def test_parse_encoder() -> None:
    assert parse_encoder("tiny_vit_p16") == ("tiny_vit_p16", "tiny_vit_p16", None)
    assert parse_encoder("raddino_vitb14:/models/rad-dino") == ("rad-dino", "raddino_vitb14", "/models/rad-dino")


def test_random_init_baseline_is_reproducible_and_leaves_the_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = load_encoder_backbone("tiny_vit_p16")
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.rand(10)  # a different global state must not change the baseline
    second = load_encoder_backbone("tiny_vit_p16")
    other = load_encoder_backbone("tiny_vit_p16", init_seed=1)
    for (name, a), b, c in zip(first.state_dict().items(), second.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert not all(torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))

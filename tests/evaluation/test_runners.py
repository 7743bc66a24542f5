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


def test_configs_from_options_routes_by_field_name_and_prefix() -> None:
    import inspect

    import pytest

    from raddino_monai.evaluation.runners import config_from_options, configs_from_options, options_signature
    from raddino_monai.report import EncoderReference, ReportModelConfig, ReportTrainConfig

    prefixes = {EncoderReference: "encoder_"}
    enc, model, train = configs_from_options({"encoder_arch": "tiny_vit_p16", "template": "chat", "epochs": 2},
                                             EncoderReference, ReportModelConfig, ReportTrainConfig, prefixes=prefixes)
    assert (enc.arch, enc.fit, model.template, train.epochs, train.lr) == ("tiny_vit_p16", "crop", "chat", 2, None)
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['epoch'\]; valid options are \[.*'encoder_arch'.*"):
        configs_from_options({"epoch": 2}, EncoderReference, ReportTrainConfig, prefixes=prefixes)
    with pytest.raises(ValueError, match=r"Unknown EncoderReference option\(s\) \['arch'\]; .*'encoder_arch'"):
        config_from_options(EncoderReference, {"arch": "x"}, prefix="encoder_")

    def tool(datalist: str, device: str = "cpu", **options: object) -> None: ...

    params = options_signature(tool, EncoderReference, ReportTrainConfig, prefixes=prefixes).parameters
    assert params["encoder_fit"].default == "crop" and params["epochs"].default == ReportTrainConfig().epochs
    assert "arch" not in params and params["datalist"].default is inspect.Parameter.empty

"""Pretraining-method registry: names, budget, adapters of methods that are not installed, return values."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from raddino_monai.experiments.pretraining_methods import (
    PRETRAINING_METHODS,
    PretrainBudget,
    PretrainedEncoder,
    as_pretrained,
    get_method,
    load_pretrained,
    random_method,
    save_pretrained,
)
from raddino_monai.models import create_backbone


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"valid methods are \['random', 'ssl', 'convirt', 'ecamp'\]"):
        get_method("simclr")
    assert set(PRETRAINING_METHODS) == {"random", "ssl", "convirt", "ecamp"}


def test_budget_validation_and_images_seen() -> None:
    assert PretrainBudget(steps=10, batch_size=4).images_seen == 40
    with pytest.raises(ValueError, match="PretrainBudget.steps must be >= 1"):
        PretrainBudget(steps=0)
    with pytest.raises(ValueError, match="max_minutes must be > 0"):
        PretrainBudget(max_minutes=0)


def test_options_are_bound_to_the_method() -> None:
    seen = {}

    def method(items, spec, budget, out, seed, recipe=None):  # noqa: ANN001, ANN202
        seen.update(recipe=recipe, seed=seed)
        return spec

    bound = get_method(method, {"recipe": {"a": 1}})
    assert bound([], "tiny_vit_p14", PretrainBudget(), Path("."), 3) == "tiny_vit_p14"
    assert seen == {"recipe": {"a": 1}, "seed": 3}


def test_random_method_exports_the_seeded_init(tmp_path: Path) -> None:
    encoder = random_method([], "tiny_vit_p14:/ignored/weights", PretrainBudget(), tmp_path, seed=5)
    arch, folder = encoder.spec.split(":", 1)
    assert arch == "tiny_vit_p14" and Path(folder) == tmp_path / "encoder_hf"
    loaded = create_backbone("tiny_vit_p14", weights=folder)
    torch.manual_seed(5)
    fresh = create_backbone("tiny_vit_p14")
    for (name, a), b in zip(loaded.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    assert encoder.stats["iterations"] == 0


def test_return_values_are_normalised(tmp_path: Path) -> None:
    assert as_pretrained(tmp_path, "tiny_vit_p16:/x").spec == f"tiny_vit_p16:{tmp_path}"
    assert as_pretrained(str(tmp_path), "tiny_vit_p16").spec == f"tiny_vit_p16:{tmp_path}"
    assert as_pretrained("tiny_vit_p14", "tiny_vit_p16").spec == "tiny_vit_p14"
    with pytest.raises(TypeError, match="must return an encoder spec"):
        as_pretrained(3, "tiny_vit_p16")  # type: ignore[arg-type]
    save_pretrained(PretrainedEncoder("a:b", {"iterations": 2.0}), tmp_path / "encoder.json")
    assert load_pretrained(tmp_path / "encoder.json") == PretrainedEncoder("a:b", {"iterations": 2.0})


@pytest.mark.parametrize("name", ["convirt", "ecamp"])
def test_language_methods_say_what_they_need_when_absent(name: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(f"raddino_monai.experiments.{name}_pretrain") is not None:
        pytest.skip(f"the {name} engine is installed; its adapter is tested end to end below")
    with pytest.raises(ValueError, match=f"method '{name}' needs {name}_pretrain_job"):
        get_method(name)([{"image": "a.png", "report": "x"}], "tiny_vit_p14", PretrainBudget(), tmp_path, 0)


@pytest.mark.parametrize("name", ["convirt", "ecamp"])
def test_language_methods_need_reports(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="none of the 1 pretraining items has a non-empty 'report'"):
        get_method(name)([{"image": "a.png", "report": " "}], "tiny_vit_p14", PretrainBudget(), tmp_path, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["convirt", "ecamp"])
def test_language_methods_pretrain_with_the_budget(name: str, tmp_path: Path) -> None:
    """With the engine installed: a few steps on sample images with short reports, an encoder folder that loads as
    the spec's architecture."""
    if importlib.util.find_spec(f"raddino_monai.experiments.{name}_pretrain") is None:
        pytest.skip(f"the {name} engine is not installed in this checkout")
    from raddino_monai.data.datalist import load_datalist
    from raddino_monai.data.sample_data import sample_datalist_path

    items = [{**it, "report": f"Heart size normal. Findings: {it['label']}. No effusion."}
             for it in load_datalist(sample_datalist_path())[:16]]
    budget = PretrainBudget(steps=2, batch_size=4, image_size=64, num_workers=0)
    encoder = get_method(name)(items, "tiny_vit_p16", budget, tmp_path, 0)
    arch, folder = encoder.spec.split(":", 1)
    assert arch == "tiny_vit_p16" and encoder.stats["iterations"] >= budget.steps
    create_backbone(arch, weights=folder)

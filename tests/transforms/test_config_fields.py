"""config_from_fields / replace_fields: the one way every config of the package accepts fields."""

from __future__ import annotations

import dataclasses

import pytest

from raddino_monai.ssl import SSLConfig
from raddino_monai.ssl.convirt import ConVIRTConfig
from raddino_monai.ssl.ecamp_config import ECAMPPretrainConfig
from raddino_monai.text.config import PretrainConfig
from raddino_monai.transforms.config_fields import config_from_fields, replace_fields


@dataclasses.dataclass(frozen=True)
class Cfg:
    size: int = 2
    name: str = "a"


def test_config_from_fields_accepts_instance_mapping_and_none() -> None:
    cfg = Cfg(3)
    assert config_from_fields(Cfg, cfg) is cfg
    assert config_from_fields(Cfg, {"size": 4}) == Cfg(4)
    assert config_from_fields(Cfg, None) == Cfg()
    assert config_from_fields(Cfg, None, default=lambda: Cfg(9)) == Cfg(9)
    with pytest.raises(ValueError, match=r"Unknown Cfg field\(s\) \['sise'\]; valid fields are \['name', 'size'\]"):
        config_from_fields(Cfg, {"sise": 1})


def test_replace_fields_checks_names_and_leaves_the_original() -> None:
    cfg = Cfg()
    assert replace_fields(cfg, {"name": "b"}) == Cfg(2, "b") and cfg == Cfg()
    with pytest.raises(ValueError, match=r"Unknown section field\(s\) \['x'\]"):
        replace_fields(cfg, {"x": 1}, name="section")


@pytest.mark.parametrize("build, message", [
    (lambda: SSLConfig.tiny().replace(optim={"base_lrr": 1.0}), r"Unknown optim field\(s\) \['base_lrr'\]"),
    (lambda: ConVIRTConfig().replace(model={"text": "x"}), r"Unknown ConVIRTModelConfig field\(s\) \['text'\]"),
    (lambda: ConVIRTConfig().replace(temp=1.0), r"Unknown ConVIRTConfig field\(s\) \['temp'\]"),
    (lambda: ECAMPPretrainConfig.tiny(optim={"lrr": 1.0}), r"Unknown ECAMPOptimConfig field\(s\) \['lrr'\]"),
    (lambda: config_from_fields(PretrainConfig, {"epoch": 1}), r"Unknown PretrainConfig field\(s\) \['epoch'\]"),
])
def test_every_config_reports_unknown_fields_the_same_way(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()

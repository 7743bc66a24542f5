"""TeacherSnapshots keeps independent CPU copies of the teacher backbone at the requested iterations."""

from __future__ import annotations

import pytest
import torch

from raddino_monai.engines.handlers import TeacherSnapshots


def test_snapshots_every_k_iterations_are_copies() -> None:
    from ignite.engine import Engine

    from raddino_monai.ssl import SSLConfig, StudentTeacher

    model = StudentTeacher.from_config(SSLConfig.tiny())
    backbone = model.teacher["backbone"]

    def step(engine: Engine, batch: int) -> None:
        with torch.no_grad():
            next(backbone.parameters()).add_(1.0)

    engine = Engine(step)
    engine.network = model
    snaps = TeacherSnapshots(every=2)
    snaps.attach(engine)
    engine.run(range(5), max_epochs=1)
    assert sorted(snaps.states) == [2, 4]
    name = next(iter(backbone.state_dict()))
    first, second = snaps.states[2][name], snaps.states[4][name]
    assert torch.allclose(second - first, torch.full_like(first, 2.0))  # a copy per snapshot, not a live reference
    assert torch.allclose(backbone.state_dict()[name] - second, torch.ones_like(first))
    with pytest.raises(ValueError, match="every >= 1"):
        TeacherSnapshots(every=0)

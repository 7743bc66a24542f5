"""TeacherSnapshots: keep copies of the exported backbone (the teacher for SSL) during a run, to probe how the
features evolve (rank 0).

``tools/ssl_evidence.py --probe_every N`` uses it to draw the probe accuracy against the iteration from one run
(a schedule rescaled to a shorter run is a different run, so separate runs of different lengths do not give that
curve). The copies live in CPU memory: a tiny ViT is a few MB per snapshot; for a ViT-B use the checkpoint handler.
"""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events

from raddino_monai.engines.fsdp import full_tensor_state, is_sharded
from raddino_monai.engines.handlers._rank import is_main_process
from raddino_monai.engines.pretrain_trainer import exported_backbone

__all__ = ["TeacherSnapshots"]


class TeacherSnapshots:
    """Copy the teacher backbone's ``state_dict`` to CPU every ``every`` iterations.

    Args:
        every: snapshot period in iterations (>= 1).

    Raises:
        ValueError: ``every < 1``.

    Example::

        >>> snaps = TeacherSnapshots(every=100)
        >>> snaps.attach(trainer); trainer.run()
        >>> sorted(snaps.states)  # iterations 100, 200, ...; values are state dicts of the teacher backbone
    """

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError(f"TeacherSnapshots needs every >= 1 iteration, found {every}.")
        self.every = every
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def attach(self, engine: Engine) -> None:
        """Snapshot after every ``every``-th iteration: kept on rank 0 only (every rank gathers an FSDP-sharded
        teacher)."""
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.every), self.snapshot)

    def snapshot(self, engine: Engine) -> None:
        """Store a CPU copy of the current teacher backbone under the iteration number."""
        backbone = exported_backbone(engine.network)
        if is_sharded(backbone):
            state = full_tensor_state(backbone)  # collective
            if is_main_process():
                self.states[engine.state.iteration] = state
            return
        if not is_main_process():
            return
        state = backbone.state_dict()
        self.states[engine.state.iteration] = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}

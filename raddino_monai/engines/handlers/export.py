"""TeacherExportHandler: periodically export the trained encoder as a Hugging Face folder and a bundle model.pt.

The encoder is the model's ``exported_backbone()`` (:func:`raddino_monai.engines.exported_backbone`): for
``StudentTeacher`` the teacher (EMA) backbone, the model people use after DINO-style pretraining ([DV2] evaluates the
teacher; RAD-DINO released it); for other pretraining models (ConVIRT, ECAMP) their image backbone. Each export
writes, on rank 0:

* ``hf_dir``: ``config.json``, ``model.safetensors`` (released microsoft/rad-dino naming) and
  ``preprocessor_config.json``, loadable with plain ``transformers.AutoModel.from_pretrained`` (via
  :func:`raddino_monai.models.export_hf_folder`); built in a temporary sibling folder and swapped in, so a crash never
  leaves a half-written folder in place;
* ``model_path`` (optional): the teacher backbone ``state_dict`` (tensors only), the bundle's ``models/model.pt``
  for ``network_def``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from raddino_monai.engines.fsdp import full_tensor_state, is_sharded
from raddino_monai.engines.handlers._rank import is_main_process
from raddino_monai.engines.pretrain_trainer import exported_backbone
from raddino_monai.models import RadDinoBackbone, export_hf_folder

__all__ = ["TeacherExportHandler"]


class TeacherExportHandler:
    """Export the model's ``exported_backbone()`` every ``interval`` iterations and when the run completes.

    Args:
        hf_dir: output HF model folder.
        interval: iterations between exports (0: only at the end).
        model_path: optional path of a tensor-only ``state_dict`` of the teacher backbone (bundle ``model.pt``).

    Example::

        >>> TeacherExportHandler("runs/teacher_hf", interval=5000, model_path="bundles/raddino/models/model.pt")
    """

    def __init__(
        self, hf_dir: str | os.PathLike[str], interval: int = 0, model_path: str | os.PathLike[str] | None = None
    ) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0, found {interval}.")
        self.hf_dir = Path(hf_dir)
        self.interval = interval
        self.model_path = Path(model_path) if model_path is not None else None

    def attach(self, engine: Engine) -> None:
        """Register the exports on every rank: rank 0 writes, the others take part only in gathering an FSDP-sharded
        teacher."""
        if self.interval > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self.export)
        engine.add_event_handler(Events.COMPLETED, self.export)

    def export(self, engine: Engine) -> Path:
        """Write the HF folder (and ``model_path``) from the current exported backbone; returns the folder. A sharded
        backbone is gathered on every rank into a full copy, written by rank 0.

        Raises:
            TypeError: the model has no ``exported_backbone()`` returning a ``RadDinoBackbone``.
        """
        backbone = exported_backbone(engine.network)  # type: ignore[attr-defined]
        if is_sharded(backbone):
            state = full_tensor_state(backbone)  # collective
            if not is_main_process():
                return self.hf_dir
            backbone = RadDinoBackbone(backbone.config)
            backbone.load_state_dict(state)
        elif not is_main_process():
            return self.hf_dir
        tmp = self.hf_dir.with_name(self.hf_dir.name + ".tmp")
        old = self.hf_dir.with_name(self.hf_dir.name + ".old")
        shutil.rmtree(tmp, ignore_errors=True)
        export_hf_folder(backbone, tmp)
        if self.hf_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.hf_dir, old)
        os.replace(tmp, self.hf_dir)
        shutil.rmtree(old, ignore_errors=True)
        if self.model_path is not None:
            self.model_path.parent.mkdir(parents=True, exist_ok=True)
            state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
            tmp_file = self.model_path.with_name(self.model_path.name + ".tmp")
            torch.save(state, tmp_file)
            os.replace(tmp_file, self.model_path)
        return self.hf_dir

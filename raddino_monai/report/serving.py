"""MONAI pieces that serve a report model: the inferer (images -> one text per image) and a report-file writer.

A MONAI bundle (``bundles/raddino_cxr_report``) or a MONAI Label infer task chains them:
``LoadCXRd`` + ``raddino_preprocessing`` -> :class:`ReportInferer` (encoder -> projector -> LM ``generate`` -> decoded
text; ``pred`` = one string per image) -> :class:`ReportWriter` (an evaluator handler writing ``id,report`` rows,
atomically, at the end). A MONAI Label task (:class:`raddino_monai.serving.label.tasks.ReportInferTask`) runs
preprocessing and the inferer on one image and answers ``{"report": pred}``; no file is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.inferers import Inferer
from monai.utils import convert_to_tensor

from raddino_monai.report.config import ReportGenerationConfig
from raddino_monai.report.generate import check_report_path, write_reports
from raddino_monai.report.model import ReportGenerator

__all__ = ["ReportInferer", "ReportWriter", "image_id"]


class ReportInferer(Inferer):
    """Images -> one generated report per image, with a :class:`~raddino_monai.report.model.ReportGenerator` that has
    an encoder (the bundle's ``pred``: text, special tokens and padding removed, whitespace stripped).

    Args:
        kwargs: :class:`~raddino_monai.report.config.ReportGenerationConfig` fields (``max_new_tokens`` 150,
            ``num_beams``, ``use_cache``, ``precision``); unset fields keep its defaults.

    Example::

        >>> ReportInferer(num_beams=3)(images, model)  # images (B, 3, S, S) -> B strings
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.config = ReportGenerationConfig(**kwargs)

    def __call__(self, inputs: torch.Tensor, network: ReportGenerator, *args: Any, **kwargs: Any) -> list[str]:
        """``(B, 3, S, S)`` preprocessed images -> ``B`` texts."""
        images = convert_to_tensor(inputs, track_meta=False).to(network.device)
        return network.generate(network.encode_images(images), self.config)


def image_id(item: Mapping[Hashable, Any], image_key: str = "image", root: str | Path | None = None) -> str:
    """An item's image path (from the MetaTensor's or ``<key>_meta_dict``'s ``filename_or_obj``), relative to
    ``root`` when given.

    Raises:
        KeyError: the item has no file name for ``image_key``.
    """
    meta = getattr(item.get(image_key), "meta", None) or item.get(f"{image_key}_meta_dict") or {}
    name = meta.get("filename_or_obj")
    if not name:
        raise KeyError(f"No filename_or_obj for {image_key!r} in the output item (keys {sorted(map(str, item))}).")
    name = str(name[0] if isinstance(name, (list, tuple)) else name)
    return Path(os.path.relpath(name, root)).as_posix() if root is not None else name


class ReportWriter:
    """Evaluator handler: collect ``(id, report)`` per image and write a CSV/JSON at the end (atomically).

    Rows are also appended to ``<output>.parts.jsonl`` as each batch finishes, so an interrupted run leaves the reports
    made so far; the final file replaces nothing (an existing output raises unless ``overwrite``).

    Args:
        output_path: ``.csv`` or ``.json``.
        report_key: output key with the text (``pred`` of :class:`ReportInferer`).
        image_key: key whose meta data names the image.
        root: ids are paths relative to this folder (e.g. the bundle's ``dataset_dir``); ``None`` = as loaded.
        overwrite: replace an existing output.

    Example::

        >>> ReportWriter("eval/reports.csv", root="data").attach(evaluator)
    """

    def __init__(
        self,
        output_path: str | Path,
        report_key: str = "pred",
        image_key: str = "image",
        root: str | Path | None = None,
        overwrite: bool = False,
    ) -> None:
        self.output_path = Path(output_path)
        self.report_key, self.image_key, self.root, self.overwrite = report_key, image_key, root, overwrite
        self.rows: list[dict[str, str]] = []

    @property
    def parts_path(self) -> Path:
        """The per-batch log next to the output."""
        return self.output_path.with_name(self.output_path.name + ".parts.jsonl")

    def attach(self, engine: Engine) -> None:
        """Register start check, per-iteration collection and the final write."""
        engine.add_event_handler(Events.STARTED, self.start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.finish)

    def start(self, engine: Engine) -> None:
        """Check the output path before any image is processed."""
        check_report_path(self.output_path, self.overwrite)
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        self.parts_path.unlink(missing_ok=True)
        self.rows = []

    def collect(self, engine: Engine) -> None:
        """Take ``(id, report)`` from each decollated output item."""
        output = engine.state.output
        items = output if isinstance(output, list) else [output]
        rows = [{"id": image_id(it, self.image_key, self.root), "report": str(it[self.report_key])} for it in items]
        self.rows.extend(rows)
        with open(self.parts_path, "a", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)

    def finish(self, engine: Engine) -> None:
        """Write the output file and drop the per-batch log."""
        write_reports(self.output_path, self.rows, overwrite=self.overwrite)
        self.parts_path.unlink(missing_ok=True)

"""A ready-to-serve report bundle from a trained report model folder (``tools/report.py train --bundle_dir``).

The template ``bundles/raddino_cxr_report`` is copied with the model folder (``report_config.json``,
``projector.safetensors``, the tokenizer and, by training mode, ``lm/`` or ``adapter/``) as ``models/report_model``
and checked by :func:`~raddino_monai.serving.bundle_export.verify_bundle` (``verify_metadata``, ``check_properties``,
``network_def`` built from the written configs, safetensors only). The MONAI Label app serves it as a ``text`` task
(:class:`raddino_monai.serving.label.tasks.ReportInferTask`). The encoder and a projector-only model's base LM stay
references to the local paths saved at training time (the bundle's ``encoder_weights`` / ``lm`` override them).
"""

from __future__ import annotations

import json
from pathlib import Path

from raddino_monai.models import get_backbone_spec
from raddino_monai.serving.bundle_export import BundleExportError, export_folder_bundle, find_template

__all__ = ["REPORT_MODEL_FOLDER", "export_report_bundle"]

#: the model folder's name under ``models/`` (what ``bundles/raddino_cxr_report/configs/inference.json`` reads)
REPORT_MODEL_FOLDER = "report_model"


def export_report_bundle(model_dir: str | Path, output_dir: str | Path, template: str | Path | None = None) -> Path:
    """Copy the report bundle template with the trained model ``model_dir`` to the new folder ``output_dir``.

    Args:
        model_dir: a report model folder (``<output_dir>/model`` of ``tools/report.py train``).
        output_dir: the new bundle folder; must not exist.
        template: template bundle; default ``bundles/raddino_cxr_report``.

    Returns:
        ``output_dir``.

    Raises:
        BundleExportError: ``model_dir`` has no ``report_config.json`` or no encoder reference, or a check failed.
        FileExistsError: ``output_dir`` exists.
    """
    path = Path(model_dir) / "report_config.json"
    if not path.is_file():
        raise BundleExportError(f"{path} not found: {model_dir} is not a report model folder (tools/report.py train).")
    config = json.loads(path.read_text())
    encoder = config.get("encoder")
    if not encoder:
        raise BundleExportError(f"{path}: no encoder reference; the bundle encodes images, so the model needs one.")
    size = encoder.get("image_size") or get_backbone_spec(encoder["arch"]).image_size
    lm = config.get("lm", {}).get("source")
    info = {"encoder_arch": encoder["arch"], "encoder_weights": encoder.get("weights"), "image_size": size, "lm": lm,
            "mode": config.get("mode"), "model_dir": str(model_dir), "trained_with": "tools/report.py train"}
    description = (f"Frozen {encoder['arch']} encoder ({encoder.get('weights') or 'random init'}) -> MLP projector -> "
                   f"{lm} ({config.get('mode')} training); pred = the generated findings text, one per image.")
    return export_folder_bundle(template or find_template("raddino_cxr_report"), output_dir, model_dir,
                                REPORT_MODEL_FOLDER, size, description, info)

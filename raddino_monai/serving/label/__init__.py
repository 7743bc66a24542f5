"""MONAI Label serving of the raddino_monai bundles (serving environment only; docs/monai_label.md).

* :mod:`.tasks`: infer tasks per bundle output (class scores, label maps, text) and the registry that picks one;
* :mod:`.train`: the segmentation bundle's train task (labels saved in MONAI Label -> new ``models/model.pt``);
* :mod:`.datastore`: a local datastore for 2-D radiographs (PNG / JPEG / DICOM / NIfTI, uploads checked) and a
  DICOMweb datastore that lists CR/DX series and keeps DICOM files instead of converting them to NIfTI;
* :mod:`.app`: the app class; ``app_dir()`` is the folder to pass to ``monailabel start_server --app``.

Its submodules import ``monailabel`` (``bash scripts/label_env.sh`` builds that environment); this file does not.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["app_dir"]


def app_dir() -> Path:
    """The MONAI Label app folder shipped with the package (``main.py`` exposing :class:`.app.RadDinoLabelApp`)."""
    return Path(__file__).resolve().parent / "app_dir"

"""MONAI Label infer tasks for the raddino_monai bundles, chosen by what the bundle's ``pred`` output is.

Each task is a :class:`monailabel.tasks.infer.bundle.BundleInferTask` (the bundle's own ``preprocessing``,
``network_def`` + ``models/model.pt``, ``inferer`` and ``postprocessing``) with the 2-D radiograph specifics:

* :class:`ClassificationInferTask`: no ``Restored`` step (it breaks on a ``(C,)`` output), the bundle's CSV writer
  dropped, and an answer ``{"prediction": [{"idx", "label", "score"}], "scores": {name: score}}`` naming every
  class as written in ``channel_def``;
* :class:`SegmentationInferTask`: the bundle's ``Invertd`` maps the label map back to the input size; the answer is
  a PNG label map (pixel value = class index, rows and columns as displayed, like the input) or NIfTI
  (``result_extension=".nii.gz"``, the ``LoadCXR`` axis convention);
* :class:`ReportInferTask`: bundles whose ``pred`` is text (``bundles/raddino_cxr_report``): the network is built
  from the bundle's model folder ``models/report_model`` (no ``models/model.pt``; rebuilt when the folder's
  ``report_config.json`` changes), the bundle's ``inferer(inputs, network)`` returns one string per image; the
  answer is ``{"report": text}``.

:data:`TASK_TYPES` maps ``metadata.json`` ``network_data_format::outputs::pred::format`` to the task class; a new
output kind plugs in with one entry. Unreadable inputs (:class:`~raddino_monai.transforms.errors.CXRLoadError`)
become HTTP 422 answers that name the problem; the server keeps serving.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import HTTPException
from monai.transforms import SaveClassificationd, SaveImaged
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.bundle import BundleConstants, BundleInferTask

from raddino_monai.transforms.masks import SaveMaskd, write_mask_nifti
from raddino_monai.transforms.errors import CXRLoadError

__all__ = ["bundle_output", "CXRBundleInferTask", "ClassificationInferTask", "SegmentationInferTask",
           "ReportBundleConstants", "ReportInferTask", "TASK_TYPES", "infer_task_for"]

logger = logging.getLogger(__name__)


def write_label_png(label_map: np.ndarray, path: str | Path) -> Path:
    """Write a ``(H, W)`` label map as 8-bit PNG holding the class indices (MONAI Label's label convention)."""
    from PIL import Image

    Image.fromarray(np.asarray(label_map).astype(np.uint8)).save(path)
    return Path(path)


#: label-map file formats of :class:`SegmentationInferTask` (request option ``result_extension``; first = default).
MASK_WRITERS: dict[str, Callable[[np.ndarray, str | Path], Path]] = {".png": write_label_png,
                                                                    ".nii.gz": write_mask_nifti}


def bundle_output(bundle: str | Path) -> dict[str, Any]:
    """``network_data_format::outputs::pred`` of a bundle's ``configs/metadata.json``.

    Raises:
        ValueError: no metadata, or no ``pred`` output (the message names the file).
    """
    path = Path(bundle) / "configs" / "metadata.json"
    if not path.is_file():
        raise ValueError(f"{path}: missing; a bundle needs configs/metadata.json.")
    outputs = json.loads(path.read_text()).get("network_data_format", {}).get("outputs", {})
    if "pred" not in outputs:
        raise ValueError(f"{path}: network_data_format.outputs has {sorted(outputs)}; expected 'pred'.")
    return dict(outputs["pred"])


def _channel_names(bundle: str | Path) -> dict[int, str]:
    return {int(k): str(v) for k, v in bundle_output(bundle).get("channel_def", {}).items()}


class CXRBundleInferTask(BundleInferTask):
    """A bundle infer task whose input errors answer HTTP 422 with the loader's message (file + problem).

    Args:
        path: bundle folder (``configs/``, ``models/model.pt``).
        conf: the app's ``--conf`` values.
        kwargs: :class:`BundleInferTask` arguments.
    """

    #: files a servable bundle of this kind has (:func:`infer_task_for` checks them first)
    required_files: tuple[str, ...] = ("configs/inference.json", "models/model.pt")

    def __init__(self, path: str, conf: dict[str, str], **kwargs: Any) -> None:
        super().__init__(path, conf, **kwargs)
        self.channel_names = _channel_names(path)

    def __call__(self, request: dict[str, Any], callbacks: Any = None) -> tuple[Any, dict[str, Any]]:
        """Run the task; a :class:`CXRLoadError` becomes ``HTTPException(422)`` (the server keeps serving)."""
        try:
            return super().__call__(request, callbacks)
        except CXRLoadError as err:
            logger.warning("rejected input for %s: %s", Path(self.bundle_path).name, err)
            raise HTTPException(status_code=422, detail=f"cannot read the image: {err}") from err


class ClassificationInferTask(CXRBundleInferTask):
    """Class scores of a ``raddino_cxr_classification`` bundle (see the module docstring for the answer)."""

    def __init__(self, path: str, conf: dict[str, str]) -> None:
        super().__init__(path, conf, type=InferType.CLASSIFICATION, add_post_restore=False,
                         post_filter=[SaveClassificationd, SaveImaged])
        self.labels = {name: idx for idx, name in self.channel_names.items()}

    def writer(self, data: dict[str, Any], extension: str | None = None, dtype: Any = None) -> tuple[None, dict]:
        """``(None, {"prediction": [...], "scores": {...}})`` from the ``(C,)`` activated ``pred``."""
        scores = torch.as_tensor(np.asarray(data[self.output_label_key])).reshape(-1).tolist()
        if len(scores) != len(self.channel_names):
            raise ValueError(f"{self.bundle_path}: pred has {len(scores)} scores, channel_def names "
                             f"{len(self.channel_names)} classes.")
        prediction = [{"idx": i, "label": self.channel_names[i], "score": float(s)} for i, s in enumerate(scores)]
        return None, {"prediction": prediction, "scores": {p["label"]: p["score"] for p in prediction}}


class SegmentationInferTask(CXRBundleInferTask):
    """Label map of a ``raddino_cxr_segmentation`` bundle at the input's size and orientation."""

    def __init__(self, path: str, conf: dict[str, str]) -> None:
        super().__init__(path, conf, type=InferType.SEGMENTATION, add_post_restore=False,
                         post_filter=[SaveMaskd, SaveImaged])
        self.labels = {name: idx for idx, name in self.channel_names.items() if name.lower() != "background"}
        self._config.update({"result_extension": list(MASK_WRITERS)})

    def writer(self, data: dict[str, Any], extension: str | None = None, dtype: Any = None) -> tuple[str, dict]:
        """Write the ``(1, H, W)`` label map; returns ``(file, {"label_names", "shape", "classes_present"})``.

        Raises:
            HTTPException: 422 for an unknown ``result_extension`` (lists the valid ones).
        """
        ext = extension or data.get("result_extension") or ".png"
        ext = ext[0] if isinstance(ext, (list, tuple)) else ext
        if ext not in MASK_WRITERS:
            raise HTTPException(status_code=422, detail=f"result_extension={ext!r}; valid: {sorted(MASK_WRITERS)}.")
        label_map = np.asarray(torch.as_tensor(np.asarray(data[self.output_label_key])).cpu()).astype(np.uint8)
        label_map = label_map[0] if label_map.ndim == 3 else label_map
        out = tempfile.NamedTemporaryFile(suffix=ext, delete=False).name
        MASK_WRITERS[ext](label_map, out)
        present = sorted(int(v) for v in np.unique(label_map))
        return out, {"label_names": self.labels, "shape": list(label_map.shape),
                     "classes_present": [self.channel_names.get(v, str(v)) for v in present]}


class ReportBundleConstants(BundleConstants):
    """The report bundle's weights: the model folder's ``report_config.json`` stands for ``models/model.pt`` (its
    presence marks a complete folder, :func:`raddino_monai.report.save_report_model`)."""

    def model_pytorch(self) -> str:
        return "report_model/report_config.json"


class ReportInferTask(CXRBundleInferTask):
    """Text per image from a report bundle (``pred.format == "text"``).

    The network is the bundle's ``network_def`` (``load_report_model`` of ``models/report_model``: frozen encoder,
    projector, LM), moved to the request's device; no state dict is loaded over it. The bundle's ``inferer`` is
    called as ``inferer(inputs (1, 3, S, S), network)`` and returns a list with one string. The answer is
    ``{"report": text}``; no file is written.
    """

    #: files a servable bundle of this kind has
    required_files = ("configs/inference.json", f"models/{ReportBundleConstants().model_pytorch()}")

    def __init__(self, path: str, conf: dict[str, str]) -> None:
        super().__init__(path, conf, const=ReportBundleConstants(), type=InferType.OTHERS, add_post_restore=False,
                         post_filter=[SaveImaged])
        self.labels = {}

    def _get_network(self, device: str, data: Any) -> torch.nn.Module:
        """The report model on ``device``, built again from the bundle when its model folder was replaced."""
        stamp = Path(self.get_path()).stat().st_mtime
        cached = self._networks.get(device)
        if cached is not None and cached[1] == stamp:
            return cached[0]
        network = self.network
        if cached is not None or network is None:  # the folder changed since start-up: build the new model
            network = self.bundle_config.get_parsed_content(self.const.key_network_def(), instantiate=True,
                                                            lazy=False)
        network = network.to(torch.device(device)).eval()
        self.network = network
        self._networks[device] = (network, stamp)
        return network

    def run_inferer(self, data: dict[str, Any], convert_to_batch: bool = True, device: str = "cuda") -> dict:
        """Generate the text with the bundle's inferer and network; stores it under ``pred``."""
        network = self._get_network(device, data)
        inputs = torch.as_tensor(data[self.input_key])[None].to(torch.device(device))
        with torch.no_grad():
            text = self.inferer(data)(inputs, network)
        text = text[0] if isinstance(text, Sequence) and not isinstance(text, str) else text
        if not isinstance(text, str):
            raise ValueError(f"{self.bundle_path}: the inferer returned {type(text).__name__}; expected text.")
        data[self.output_label_key] = text
        return data

    def post_transforms(self, data: Any = None) -> list:
        """None: the text is the answer."""
        return []

    def writer(self, data: dict[str, Any], extension: str | None = None, dtype: Any = None) -> tuple[None, dict]:
        """``(None, {"report": text})``."""
        return None, {"report": data[self.output_label_key]}


#: ``pred.format`` of a bundle's metadata -> its infer task (what the answer is).
TASK_TYPES: dict[str, type[CXRBundleInferTask]] = {
    "classes": ClassificationInferTask,
    "segmentation": SegmentationInferTask,
    "text": ReportInferTask,
}


def infer_task_for(bundle: str | Path, conf: Mapping[str, str]) -> CXRBundleInferTask:
    """The infer task of a bundle folder, picked by its ``pred.format`` (:data:`TASK_TYPES`).

    Raises:
        ValueError: a format with no task (lists the valid ones), or a bundle MONAI Label cannot load (a file of
            the task's ``required_files`` missing: ``configs/inference.json``, ``models/model.pt`` or, for text,
            ``models/report_model/report_config.json``).
    """
    fmt = bundle_output(bundle).get("format")
    if fmt not in TASK_TYPES:
        raise ValueError(f"{bundle}: pred.format={fmt!r} has no MONAI Label task; valid: {sorted(TASK_TYPES)}.")
    for need in TASK_TYPES[fmt].required_files:
        if not (Path(bundle) / need).is_file():
            raise ValueError(f"{bundle}: {need} is missing; export a servable bundle with --bundle_dir "
                             "(docs/monai_label.md).")
    task = TASK_TYPES[fmt](str(bundle), dict(conf))
    if not task.is_valid():
        raise ValueError(f"{bundle}: MONAI Label could not load this bundle (see the server log).")
    return task

"""The MONAI Label app that serves local raddino_monai bundles offline (docs/monai_label.md).

Start it with ``bash scripts/label_env.sh serve --bundles DIR --studies DIR`` or directly::

    monailabel start_server --app "$(python -c 'from raddino_monai.serving.label import app_dir; print(app_dir())')" \
        --studies data/cxr --conf bundles bundles_out [--conf skip_trainers true] [--conf dicomweb_modalities CR,DX]

``--conf bundles`` is a comma-separated list of bundle folders or folders of bundle folders; nothing is looked up in
the model zoo. Each bundle with ``configs/inference.json`` and ``models/model.pt`` becomes the model named after its
folder, with the task its ``pred.format`` names (:data:`.tasks.TASK_TYPES`); formats in :data:`TRAIN_TYPES` with a
``configs/train.json`` also get a train task. A bundle without an inference config (the SSL pretraining bundle) is
never served nor trained. The studies are a :class:`.datastore.CXRDatastore`, or a
:class:`.datastore.CXRDICOMWebDatastore` when ``--studies`` is a DICOMweb URL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import raddino_monai
from monailabel.config import settings
from monailabel.datastore.dicom import DICOMwebClientX
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.train import TrainTask
from monailabel.utils.others.generic import strtobool

from .datastore import CXR_MODALITIES, CXRDatastore, CXRDICOMWebDatastore
from .tasks import bundle_output, infer_task_for
from .train import SegmentationTrainTask

__all__ = ["TRAIN_TYPES", "find_bundles", "RadDinoLabelApp"]

logger = logging.getLogger(__name__)

#: ``pred.format`` -> train task, for bundles that ship ``configs/train.json``.
TRAIN_TYPES: dict[str, type[TrainTask]] = {"segmentation": SegmentationTrainTask}


def find_bundles(paths: Sequence[str | Path]) -> dict[str, Path]:
    """Servable bundles under ``paths`` (bundle folders or their parents), by folder name.

    A folder is servable when it holds ``configs/inference.json``; others (the SSL pretraining bundle) are skipped
    with a log line.

    Raises:
        ValueError: a path that does not exist, or two bundles with the same folder name (both paths named).
    """
    found: dict[str, Path] = {}
    for raw in paths:
        root = Path(raw).expanduser().resolve()
        if not root.is_dir():
            raise ValueError(f"--conf bundles: {root} is not a folder.")
        candidates = [root] if (root / "configs").is_dir() else sorted(p for p in root.iterdir() if p.is_dir())
        for bundle in candidates:
            if not (bundle / "configs" / "metadata.json").is_file():
                continue
            if not (bundle / "configs" / "inference.json").is_file():
                logger.info("not served (no configs/inference.json): %s", bundle)
                continue
            if bundle.name in found:
                raise ValueError(f"two bundles named {bundle.name!r}: {found[bundle.name]} and {bundle}.")
            found[bundle.name] = bundle
    return found


class RadDinoLabelApp(MONAILabelApp):
    """MONAI Label app over local bundles (see the module docstring for the ``--conf`` keys).

    Args:
        app_dir: this app's folder.
        studies: local studies folder or DICOMweb URL.
        conf: ``--conf`` values.
    """

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        paths = [p for p in conf.get("bundles", "").split(",") if p.strip()]
        self.bundles = find_bundles(paths or [str(Path(app_dir) / "model")])
        if not self.bundles:
            logger.warning("no servable bundle found in %s; pass --conf bundles DIR", paths)
        super().__init__(app_dir=app_dir, studies=studies, conf=conf,
                         name=f"raddino_monai {raddino_monai.__version__}",
                         description="RAD-DINO chest X-ray bundles (classification, segmentation, report)",
                         version=raddino_monai.__version__)

    def init_datastore(self) -> Datastore:
        """:class:`CXRDatastore` for a folder, :class:`CXRDICOMWebDatastore` for a DICOMweb URL."""
        if self.studies.startswith(("http://", "https://")):
            return self.init_remote_datastore()
        Path(self.studies).mkdir(parents=True, exist_ok=True)
        return CXRDatastore(self.studies, auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
                            read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY)

    def _init_dicomweb_datastore(self) -> Datastore:
        modalities = [m.strip() for m in self.conf.get("dicomweb_modalities", ",".join(CXR_MODALITIES)).split(",")]
        client = DICOMwebClientX(url=self.studies.rstrip("/"), session=None,
                                 qido_url_prefix=settings.MONAI_LABEL_QIDO_PREFIX,
                                 wado_url_prefix=settings.MONAI_LABEL_WADO_PREFIX,
                                 stow_url_prefix=settings.MONAI_LABEL_STOW_PREFIX)
        cache = (settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or "").strip() or None
        return CXRDICOMWebDatastore(modalities=modalities, client=client, cache_path=cache,
                                    fetch_by_frame=settings.MONAI_LABEL_DICOMWEB_FETCH_BY_FRAME)

    def init_infers(self) -> dict[str, InferTask]:
        """One infer task per servable bundle; a bundle that cannot be served is logged and skipped."""
        infers: dict[str, InferTask] = {}
        for name, bundle in self.bundles.items():
            try:
                infers[name] = infer_task_for(bundle, self.conf)
            except ValueError as err:
                logger.warning("not served: %s", err)
                continue
            logger.info("+++ model %s (%s) from %s", name, infers[name].type, bundle)
        return infers

    def init_trainers(self) -> dict[str, TrainTask]:
        """Train tasks for served bundles whose output kind has one (:data:`TRAIN_TYPES`) and a train.json."""
        if strtobool(self.conf.get("skip_trainers", "false")):
            return {}
        trainers: dict[str, TrainTask] = {}
        for name, bundle in self.bundles.items():
            kind = TRAIN_TYPES.get(str(bundle_output(bundle).get("format")))
            if kind is None or name not in self._infers or not (bundle / "configs" / "train.json").is_file():
                continue
            task = kind(str(bundle), self.conf)
            if task.is_valid():
                trainers[name] = task
                logger.info("+++ trainer %s from %s", name, bundle)
        return trainers

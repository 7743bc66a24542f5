"""The segmentation bundle's MONAI Label train task: labels saved in the viewer -> a new ``models/model.pt``.

:class:`SegmentationTrainTask` is MONAI Label's :class:`~monailabel.tasks.train.bundle.BundleTrainTask` (it runs the
bundle's ``configs/train.json`` with the datastore's labelled images as ``train#dataset#data``, starting from the
current ``models/model.pt``) with three changes:

* the previous weights are kept: ``models/model.pt`` is copied to ``models/history/model_<time>.pt`` before
  training (outside ``models/*.pt``, so the model choice in the viewer is unchanged);
* fewer than :data:`MIN_TRAIN_IMAGES` labelled images is refused with a message saying how many there are (a batch of
  one cannot train the head's batch-norm layers);
* with fewer than :data:`MIN_VALIDATION_SPLIT_IMAGES` labelled images everything trains and validation is off.

The next ``/infer`` loads the new weights: MONAI Label reloads a network when ``models/model.pt``'s mtime changes.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.exception import MONAILabelError, MONAILabelException
from monailabel.tasks.train.bundle import BundleTrainTask

__all__ = ["MIN_TRAIN_IMAGES", "MIN_VALIDATION_SPLIT_IMAGES", "SegmentationTrainTask"]

logger = logging.getLogger(__name__)

#: the head's batch-norm layers need batches of at least two images.
MIN_TRAIN_IMAGES: int = 2
#: below this many labelled images a validation split would leave too little to train on (ours).
MIN_VALIDATION_SPLIT_IMAGES: int = 10


class SegmentationTrainTask(BundleTrainTask):
    """Train the segmentation head of a bundle on the datastore's labels (see the module docstring).

    Args:
        path: bundle folder with ``configs/train.json``.
        conf: the app's ``--conf`` values.
    """

    def __init__(self, path: str, conf: dict[str, str]) -> None:
        super().__init__(path, conf)

    def config(self) -> dict[str, Any]:
        """MONAI Label's train options with a CPU-sized default of 10 epochs."""
        return {**super().config(), "max_epochs": 10}

    def _fetch_datalist(self, request: dict[str, Any], datastore: Datastore) -> list[dict[str, Any]]:
        items = super()._fetch_datalist(request, datastore)
        if len(items) < MIN_TRAIN_IMAGES:
            raise MONAILabelException(
                MONAILabelError.INVALID_INPUT,
                f"training needs at least {MIN_TRAIN_IMAGES} labelled images; the datastore has {len(items)}.")
        return items

    def _partition_datalist(self, datalist: list, request: dict[str, Any], shuffle: bool = False) -> tuple:
        if len(datalist) < MIN_VALIDATION_SPLIT_IMAGES:
            logger.info("%d labelled images (< %d): all train, no validation.", len(datalist),
                        MIN_VALIDATION_SPLIT_IMAGES)
            return datalist, []
        return super()._partition_datalist(datalist, request, shuffle)

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        """Keep the current weights in ``models/history/``, then train."""
        current = Path(self.bundle_path) / "models" / "model.pt"
        if current.is_file():
            history = current.parent / "history"
            history.mkdir(exist_ok=True)
            kept = history / f"model_{time.strftime('%Y%m%d_%H%M%S')}_{time.time_ns() % 10**9:09d}.pt"
            shutil.copy2(current, kept)
            logger.info("previous weights kept as %s", kept)
        return super().__call__(request, datastore)

"""MONAI engines for RAD-DINO pretraining: :class:`SSLTrainer` (a ``SupervisedTrainer``), resumable data order and
handlers (:mod:`.handlers`).

Example::

    >>> from raddino_monai.engines import SSLTrainer
    >>> from raddino_monai.engines.handlers import SSLCheckpointHandler, NaNGuard
"""

from __future__ import annotations

from raddino_monai.engines.data_order import (
    SEED_KEY,
    ResumableDistributedSampler,
    SeededDataset,
    SeededSSLCollate,
    derive_seed,
)
from raddino_monai.engines.ssl_trainer import (
    AUTOCAST_DTYPES,
    SSL_BATCH_KEYS,
    SSLTrainer,
    prepare_ssl_batch,
    unwrap_model,
)

__all__ = [
    "AUTOCAST_DTYPES",
    "SEED_KEY",
    "SSL_BATCH_KEYS",
    "ResumableDistributedSampler",
    "SSLTrainer",
    "SeededDataset",
    "SeededSSLCollate",
    "derive_seed",
    "prepare_ssl_batch",
    "unwrap_model",
]

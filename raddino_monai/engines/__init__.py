"""MONAI engines for pretraining: :class:`PretrainTrainer` (a ``SupervisedTrainer`` for any model whose forward
returns ``{"loss": total, <terms>}``), :class:`SSLTrainer` (its teacher-student subclass) and their handlers
(:mod:`.handlers`); FSDP2 sharding of the model (:mod:`.fsdp`). The batch pipeline it consumes (seeded sampler,
dataset wrapper, SSL collate) is in :mod:`raddino_monai.data`.

Example::

    >>> from raddino_monai.engines import SSLTrainer
    >>> from raddino_monai.engines.handlers import SSLCheckpointHandler, NaNGuard
"""

from __future__ import annotations

from raddino_monai._compat import moved_names
from raddino_monai.engines.pretrain_trainer import (
    PretrainModel,
    PretrainTrainer,
    exported_backbone,
    prepare_tensor_batch,
    scalar_terms,
    unwrap_network,
)
from raddino_monai.engines.data_order import SeededSSLCollate  # deprecated alias of data.collate.SSLCollate
from raddino_monai.engines.fsdp import FSDPConfig, shard_student_teacher
from raddino_monai.engines.ssl_trainer import (
    AUTOCAST_DTYPES,
    SSL_BATCH_KEYS,
    SSLTrainer,
    prepare_ssl_batch,
    unwrap_model,
)

__getattr__ = moved_names(__name__)  # ResumableDistributedSampler, SeededDataset, ... moved to data.samplers

__all__ = [
    "AUTOCAST_DTYPES",
    "FSDPConfig",
    "PretrainModel",
    "PretrainTrainer",
    "SSL_BATCH_KEYS",
    "SSLTrainer",
    "SeededSSLCollate",
    "exported_backbone",
    "prepare_ssl_batch",
    "shard_student_teacher",
    "prepare_tensor_batch",
    "scalar_terms",
    "unwrap_model",
    "unwrap_network",
]

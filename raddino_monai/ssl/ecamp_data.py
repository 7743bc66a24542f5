"""ECAMP's per-item pipeline: datalist item ``{image, report[, entity_context][, sr_region]}`` -> the batch keys of
:class:`~raddino_monai.ssl.ecamp_meta_arch.ECAMPMetaArch` (default collation stacks them).

Steps ([ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/pretrain_datasets.py`` ``__getitem__`` 113-191):

1. :class:`~raddino_monai.transforms.LoadCXRd` (image and optional region map);
2. :func:`~raddino_monai.transforms.ecamp_augmentations`: crop 448 / flip / 3 channels / normalise (lines 47-52);
3. :class:`~raddino_monai.transforms.InsertEntityContextd`: the item's ``entity_context`` or ``entity_fn(report)``
   inserted w.p. 0.8 (lines 116-132);
4. :class:`~raddino_monai.transforms.EntityAwareMLMd`: tokens, entity-aware masking and weights (133-184);
5. :class:`~raddino_monai.transforms.RandMAENoised`: the MAE masking noise, per item (our addition, for exact resume);
6. ``SelectItemsd``: only the batch keys stay (datalist metadata such as ``age: None`` would not collate).

Every random step draws from ``self.R``, so :class:`~raddino_monai.data.samplers.SeededDataset` makes each item a
function of ``(seed, epoch, index)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monai.transforms import Compose, CopyItemsd, SelectItemsd

from raddino_monai.models.ecamp.model import ECAMP_BATCH_KEYS
from raddino_monai.ssl.ecamp_config import ECAMPPretrainConfig
from raddino_monai.transforms.ecamp_augment import ecamp_augmentations
from raddino_monai.transforms.entity_context import InsertEntityContextd
from raddino_monai.transforms.entity_mlm import MLM_KEYS, EntityAwareMLMd
from raddino_monai.transforms.io import LoadCXRd
from raddino_monai.transforms.mae_noise import RandMAENoised

__all__ = ["ecamp_transforms", "ecamp_item_keys"]


def ecamp_item_keys(region_key: str | None = None) -> list[str]:
    """The keys one transformed item carries (the batch keys; ``region_key`` -> ``sr_region``)."""
    keys = ["image", *MLM_KEYS, "mae_noise"]
    if region_key is not None:
        keys.append("sr_region")
    return [k for k in keys if k in ECAMP_BATCH_KEYS]


def ecamp_transforms(
    config: ECAMPPretrainConfig,
    tokenizer: Any,
    entity_fn: Callable[[str], str] | None = None,
    patch_size: int = 16,
    region_key: str | None = None,
) -> Compose:
    """The item transforms of an ECAMP run.

    Args:
        config: the recipe (``augment``, ``text``, ``entity_context_prob``, ``model.input_size``).
        tokenizer: a local Hugging Face WordPiece tokenizer with ``[CLS]``, ``[PAD]``, ``[MASK]``.
        entity_fn: ``report -> entity sentence`` for items without ``entity_context`` (the bundle and
            :func:`raddino_monai.experiments.ecamp_pretrain.ecamp_entity_fn` pass the CheXpert-labeler sentence);
            ``None`` = the keyword matcher of :mod:`raddino_monai.transforms.entity_context`.
        patch_size: the encoder's patch size (the noise has ``(input_size // patch_size) ** 2`` entries).
        region_key: datalist key of an SR region-weight image (loaded, cropped and flipped with the image, stored
            as ``sr_region``); ``None`` = plain SR loss.

    Returns:
        ``Compose``: item dict -> dict of :func:`ecamp_item_keys`.

    Example:
        >>> t = ecamp_transforms(ECAMPPretrainConfig.tiny(), tokenizer)          # doctest: +SKIP
        >>> sorted(t({"image": "a.png", "report": "No effusion."}))             # doctest: +SKIP
        ['attention_mask', 'image', 'input_ids', 'labels', 'mae_noise', 'mlm_weights', 'token_type_ids']
    """
    grid = config.model.input_size // patch_size
    image_keys = ["image"] if region_key is None else ["image", region_key]
    steps: list[Any] = [LoadCXRd(image_keys)]
    steps.append(ecamp_augmentations("image", config.augment, region_key=region_key))
    if region_key is not None and region_key != "sr_region":
        steps.append(CopyItemsd(region_key, names="sr_region"))
    steps += [
        InsertEntityContextd("report", context_key="entity_context", prob=config.entity_context_prob,
                             entity_fn=entity_fn),
        EntityAwareMLMd("report", tokenizer, config.text),
        RandMAENoised("mae_noise", grid * grid),
        SelectItemsd(ecamp_item_keys(region_key)),
    ]
    return Compose(steps)

"""A tiny ECAMP network (ViT 192 wide, 2 blocks, 64 px input / 128 px SR target; BERT 32 wide, 1 layer) and a batch
of four hand-made reports with smooth random images, shared by the model and meta-architecture tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from reference.tiny_text import tiny_tokenizer

from raddino_monai.models.ecamp import ECAMPModel, build_ecamp_model
from raddino_monai.transforms.entity_context import InsertEntityContext
from raddino_monai.transforms.entity_mlm import EntityAwareMLM, EntityMLMConfig

REPORTS = [
    "Small left pleural effusions. There is no evidence of pneumothorax.",
    "Heart size is normal. The lungs are clear.",
    "Mild cardiomegaly. Right lower lobe opacity, possible pneumonia.",
    "Hyperinflated lungs. There is no focal opacity.",
]
TEXT = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 32}
CONFIG = {"input_size": 64, "decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2}


def tiny_ecamp_model(**config) -> ECAMPModel:
    """The tiny network with :data:`CONFIG` updated by ``config`` (ECAMPConfig fields)."""
    return build_ecamp_model("tiny_vit_p16", vocab_size=len(tiny_tokenizer()), config={**CONFIG, **config},
                             backbone_overrides={"num_hidden_layers": 2}, text_overrides=TEXT)


def tiny_ecamp_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """A 4-item batch: the MLM keys of :data:`REPORTS`, ``image (4, 3, 128, 128)`` and ``mae_noise (4, 16)``."""
    g = torch.Generator().manual_seed(seed)
    mlm = EntityAwareMLM(tiny_tokenizer(), EntityMLMConfig(max_length=32), seed=seed)
    insert = InsertEntityContext(seed=seed)
    texts = [mlm(insert(r)) for r in REPORTS]
    batch = {k: torch.stack([t[k] for t in texts]) for k in texts[0]}
    batch["image"] = F.interpolate(torch.randn(4, 1, 8, 8, generator=g), size=(128, 128), mode="bicubic").repeat(
        1, 3, 1, 1)
    batch["mae_noise"] = torch.rand(4, 16, generator=g)
    return batch

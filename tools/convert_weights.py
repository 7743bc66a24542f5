"""python tools/convert_weights.py {to_dinov2,to_hf,head} SRC OUT [--arch NAME] [--prefix P] [--naming released]

Convert DINOv2 / RAD-DINO weights between formats, offline, local paths only:

* ``to_hf SRC OUT_DIR``: DINOv2-named ``.pth``/``.safetensors`` (e.g. RAD-DINO ``backbone_compatible.safetensors``,
  a ``dinov2_vitb14_pretrain.pth``, a training checkpoint with ``--prefix model.teacher.backbone.``) or HF folder ->
  HF folder (``config.json`` + ``model.safetensors`` in released naming + ``preprocessor_config.json``).
* ``to_dinov2 SRC OUT.safetensors``: HF folder or any backbone checkpoint -> DINOv2 naming (fused qkv, ``ls1.gamma``).
* ``head SRC OUT.safetensors``: DINO head (RAD-DINO ``dino_head.safetensors``, ``teacher.dino_head.*``) ->
  ``--naming released`` (``weight_g/weight_v``) or ``parametrized`` (``parametrizations.weight.original0/1``).

Formats are detected from the keys, not the file names; pickled code is refused (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import fire

from raddino_monai.models.weights.convert import convert_head, convert_to_dinov2, convert_to_hf

if __name__ == "__main__":
    fire.Fire({"to_hf": convert_to_hf, "to_dinov2": convert_to_dinov2, "head": convert_head})

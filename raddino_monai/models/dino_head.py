"""DINO projection head ([DV2] ``layers/dino_head.py``); its weight I/O is in :mod:`raddino_monai.models.weights.head_file`.

``DINOHead``: ``mlp`` (Linear -> GELU -> Linear -> GELU -> Linear for ``nlayers=3``; submodules ``mlp.0/2/4``),
L2 normalisation, then ``last_layer``, a weight-normalised ``Linear(bottleneck_dim, out_dim, bias=False)`` with the
magnitude ``g`` initialised to 1 and trainable (DINOv2 has no DINOv1 ``norm_last_layer``). Linear weights are
truncated-normal (std 0.02), biases 0; ``last_layer``'s direction keeps PyTorch's default Linear init, as in [DV2].

Parameter names: ``last_layer`` uses :func:`torch.nn.utils.parametrizations.weight_norm`, so its parameters are
``last_layer.parametrizations.weight.original0`` (``g``, ``(out_dim, 1)``) and ``.original1`` (``v``); the released
file uses the deprecated names ``last_layer.weight_g`` / ``last_layer.weight_v`` (read and written by
:mod:`raddino_monai.models.weights.head_file`). ``head.load_state_dict`` also accepts the released names directly
(PyTorch's weight-norm compatibility hook).

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/layers/dino_head.py``.
    - [CARD] microsoft/rad-dino: ``DINOHead(in_dim=768, out_dim=65536, hidden_dim=2048, bottleneck_dim=256,
      nlayers=3)`` loads ``dino_head.safetensors`` with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from raddino_monai._compat import moved_names

__all__ = ["DINOHead"]

__getattr__ = moved_names(__name__)  # load_dino_head and the key renamers moved to models.weights.head_file


def _build_mlp(nlayers: int, in_dim: int, bottleneck_dim: int, hidden_dim: int, use_bn: bool, bias: bool) -> nn.Module:
    if nlayers == 1:
        return nn.Linear(in_dim, bottleneck_dim, bias=bias)
    layers: list[nn.Module] = []
    dims = [in_dim] + [hidden_dim] * (nlayers - 1)
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers.append(nn.Linear(d_in, d_out, bias=bias))
        layers.extend([nn.BatchNorm1d(d_out), nn.GELU()] if use_bn else [nn.GELU()])
    layers.append(nn.Linear(hidden_dim, bottleneck_dim, bias=bias))
    return nn.Sequential(*layers)


class DINOHead(nn.Module):
    """DINOv2 projection head: MLP -> L2 norm -> weight-normalised prototypes.

    Args:
        in_dim: backbone embedding size (768 for ViT-B).
        out_dim: number of prototypes ``K`` ([DV2] / [CARD] 65536).
        hidden_dim: MLP hidden size ([DV2] 2048).
        bottleneck_dim: size before the prototypes ([DV2] 256).
        nlayers: number of Linear layers in the MLP, ``>= 1`` ([DV2] 3).
        use_bn: BatchNorm after each hidden Linear ([DV2] False).
        mlp_bias: biases in the MLP Linears ([DV2] True).

    Raises:
        ValueError: non-positive sizes.

    Example:
        >>> head = DINOHead(in_dim=32, out_dim=64, hidden_dim=48, bottleneck_dim=16)
        >>> head(torch.randn(5, 32)).shape
        torch.Size([5, 64])
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 65536,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        nlayers: int = 3,
        use_bn: bool = False,
        mlp_bias: bool = True,
    ) -> None:
        super().__init__()
        sizes = {"in_dim": in_dim, "out_dim": out_dim, "hidden_dim": hidden_dim, "bottleneck_dim": bottleneck_dim}
        bad = {k: v for k, v in {**sizes, "nlayers": nlayers}.items() if v < 1}
        if bad:
            raise ValueError(f"DINOHead sizes must be >= 1, found {bad}.")
        self.in_dim, self.out_dim, self.hidden_dim, self.bottleneck_dim = in_dim, out_dim, hidden_dim, bottleneck_dim
        self.nlayers, self.use_bn, self.mlp_bias = nlayers, use_bn, mlp_bias
        self.mlp = _build_mlp(nlayers, in_dim, bottleneck_dim, hidden_dim, use_bn, mlp_bias)
        self.mlp.apply(_init_linear)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        with torch.no_grad():
            self.last_layer.parametrizations.weight.original0.fill_(1.0)

    def forward(self, x: Tensor) -> Tensor:
        """Project ``x`` ``(M, in_dim)`` (or ``(..., in_dim)``) to prototype logits ``(M, out_dim)``."""
        x = self.mlp(x)
        eps = 1e-6 if x.dtype == torch.float16 else 1e-12  # [DV2]: 1e-12 underflows in fp16
        x = F.normalize(x, dim=-1, p=2, eps=eps)
        return self.last_layer(x)

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, hidden_dim={self.hidden_dim}, "
            f"bottleneck_dim={self.bottleneck_dim}, nlayers={self.nlayers}, use_bn={self.use_bn}"
        )


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)

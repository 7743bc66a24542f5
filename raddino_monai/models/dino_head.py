"""DINO projection head ([DV2] ``layers/dino_head.py``) and loading of RAD-DINO's released ``dino_head.safetensors``.

``DINOHead``: ``mlp`` (Linear -> GELU -> Linear -> GELU -> Linear for ``nlayers=3``; submodules ``mlp.0/2/4``),
L2 normalisation, then ``last_layer``, a weight-normalised ``Linear(bottleneck_dim, out_dim, bias=False)`` with the
magnitude ``g`` initialised to 1 and trainable (DINOv2 has no DINOv1 ``norm_last_layer``). Linear weights are
truncated-normal (std 0.02), biases 0; ``last_layer``'s direction keeps PyTorch's default Linear init, as in [DV2].

Parameter names: ``last_layer`` uses :func:`torch.nn.utils.parametrizations.weight_norm`, so its parameters are
``last_layer.parametrizations.weight.original0`` (``g``, ``(out_dim, 1)``) and ``.original1`` (``v``); the released
file uses the deprecated names ``last_layer.weight_g`` / ``last_layer.weight_v``. :func:`load_dino_head` reads
both, and :func:`dino_head_state_dict_to_released` writes the released names back. ``head.load_state_dict`` also
accepts the released names directly (PyTorch's weight-norm compatibility hook).

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/layers/dino_head.py``.
    - [CARD] microsoft/rad-dino: ``DINOHead(in_dim=768, out_dim=65536, hidden_dim=2048, bottleneck_dim=256,
      nlayers=3)`` loads ``dino_head.safetensors`` with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from raddino_monai.models.weights.safe_load import CheckpointError, load_checkpoint, select_prefix

__all__ = ["DINOHead", "load_dino_head", "dino_head_state_dict_to_released", "dino_head_state_dict_from_released"]

_PARAM_G, _PARAM_V = "parametrizations.weight.original0", "parametrizations.weight.original1"
_RELEASED_G, _RELEASED_V = "weight_g", "weight_v"


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


def dino_head_state_dict_to_released(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename ``last_layer.parametrizations.weight.original0/1`` to the released ``last_layer.weight_g/weight_v``.

    Other keys are kept; already-released names pass through unchanged (idempotent).
    """
    renames = {_PARAM_G: _RELEASED_G, _PARAM_V: _RELEASED_V}
    return {_rename_suffix(k, renames): v for k, v in state_dict.items()}


def dino_head_state_dict_from_released(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`dino_head_state_dict_to_released` (released names -> parametrization names)."""
    renames = {_RELEASED_G: _PARAM_G, _RELEASED_V: _PARAM_V}
    return {_rename_suffix(k, renames): v for k, v in state_dict.items()}


def _rename_suffix(key: str, renames: Mapping[str, str]) -> str:
    for old, new in renames.items():
        if key == f"last_layer.{old}" or key.endswith(f".last_layer.{old}"):
            return key[: -len(old)] + new
    return key


def _infer_head_kwargs(sd: Mapping[str, Tensor], source: str | Path) -> dict[str, Any]:
    """DINOHead arguments from the shapes of a released-naming head state dict."""
    v = sd.get(f"last_layer.{_RELEASED_V}")
    if v is None or v.ndim != 2:
        raise CheckpointError(
            f"{source}: expected a 2-D 'last_layer.weight_v' (out_dim, bottleneck_dim); keys: {sorted(sd)}"
        )
    if "mlp.weight" in sd:  # nlayers == 1: mlp is a single Linear
        linear_keys = ["mlp"]
    else:
        indices = sorted({int(k.split(".")[1]) for k in sd if k.startswith("mlp.") and k.split(".")[1].isdigit()})
        linear_keys = [f"mlp.{i}" for i in indices if f"mlp.{i}.weight" in sd and sd[f"mlp.{i}.weight"].ndim == 2]
    use_bn = any(k.startswith("mlp.") and k.endswith(".running_mean") for k in sd)
    linears = [sd[f"{k}.weight"] for k in linear_keys]
    bias = any(f"{k}.bias" in sd for k in linear_keys)  # a partial set is reported as missing keys
    if not linears:
        raise CheckpointError(f"{source}: no MLP Linear weights ('mlp.0.weight' ...) found; keys: {sorted(sd)}")
    return {
        "in_dim": int(linears[0].shape[1]),
        "out_dim": int(v.shape[0]),
        "hidden_dim": int(linears[0].shape[0]) if len(linears) > 1 else 2048,
        "bottleneck_dim": int(v.shape[1]),
        "nlayers": len(linears),
        "use_bn": use_bn,
        "mlp_bias": bias,
    }


def load_dino_head(path: str | Path, prefix: str | None = None, **expected: Any) -> DINOHead:
    """Build a :class:`DINOHead` from a checkpoint, inferring its sizes from the tensor shapes; strict loading.

    Accepts RAD-DINO's ``dino_head.safetensors`` (``mlp.0.weight``, ..., ``last_layer.weight_g/weight_v``), the
    ``parametrizations.weight.original0/1`` naming, and prefixed keys (``dino_head.``, ``teacher.dino_head.``...).
    Files are read with safetensors or ``torch.load(weights_only=True)`` only.

    Args:
        path: checkpoint file.
        prefix: key prefix of the head (e.g. ``"teacher.dino_head."``); ``None`` picks the only one present.
        expected: optional :class:`DINOHead` arguments (``in_dim=768``, ``out_dim=65536``...) the file must match.

    Returns:
        the head on CPU in float32 (``eval()`` is left to the caller).

    Raises:
        CheckpointError (a ``ValueError``): unreadable file, no head or several heads (without ``prefix``), a
        mismatch with ``expected``, or missing/unexpected keys (listed).

    Example:
        >>> head = load_dino_head("rad-dino/dino_head.safetensors", in_dim=768)   # doctest: +SKIP
    """
    tensors = dino_head_state_dict_to_released(load_checkpoint(path))
    sd = select_prefix(tensors, marker=f"last_layer.{_RELEASED_V}", prefix=prefix, source=path)
    kwargs = _infer_head_kwargs(sd, path)
    unknown = sorted(set(expected) - set(kwargs))
    if unknown:
        raise ValueError(f"load_dino_head: unknown arguments {unknown}; valid: {sorted(kwargs)}.")
    mismatched = {k: (v, kwargs[k]) for k, v in expected.items() if kwargs[k] != v}
    if mismatched:
        details = ", ".join(f"{k}: expected {e}, found {f}" for k, (e, f) in mismatched.items())
        raise CheckpointError(f"{path}: DINO head does not match the requested configuration ({details}).")
    head = DINOHead(**kwargs)
    target = dino_head_state_dict_from_released(sd)
    own = head.state_dict()
    missing, unexpected = sorted(set(own) - set(target)), sorted(set(target) - set(own))
    bad_shapes = [
        f"{k}: {tuple(target[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in target and target[k].shape != own[k].shape
    ]
    if missing or unexpected or bad_shapes:
        raise CheckpointError(
            f"{path}: DINO head keys do not match DINOHead({kwargs}). Missing: {missing}; unexpected: {unexpected}; "
            f"shape mismatches (file vs model): {bad_shapes}."
        )
    head.load_state_dict({k: t.float() for k, t in target.items()}, strict=True)
    return head

"""Weight I/O of the DINO head: RAD-DINO's released ``dino_head.safetensors`` naming and strict loading.

The released file names the weight-normalised prototype layer ``last_layer.weight_g`` / ``last_layer.weight_v``
(PyTorch's deprecated ``weight_norm``); :class:`~raddino_monai.models.dino_head.DINOHead` holds them as
``last_layer.parametrizations.weight.original0/1``. :func:`load_dino_head` reads both namings (sizes inferred from
the tensor shapes), :func:`dino_head_state_dict_to_released` writes the released names back.

References:
    - [CARD] microsoft/rad-dino: ``DINOHead(in_dim=768, out_dim=65536, hidden_dim=2048, bottleneck_dim=256,
      nlayers=3)`` loads ``dino_head.safetensors`` with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from raddino_monai.models.dino_head import DINOHead
from raddino_monai.models.weights.safe_load import CheckpointError, load_checkpoint, select_prefix

__all__ = ["load_dino_head", "dino_head_state_dict_to_released", "dino_head_state_dict_from_released"]

_PARAM_G, _PARAM_V = "parametrizations.weight.original0", "parametrizations.weight.original1"
_RELEASED_G, _RELEASED_V = "weight_g", "weight_v"


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

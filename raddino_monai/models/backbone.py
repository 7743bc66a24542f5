"""RadDinoBackbone: a timm-style interface around transformers ``Dinov2Model`` / ``Dinov2WithRegistersModel``.

The transformers model is kept as ``backbone.model`` so its weights stay loadable by plain ``AutoModel`` and the
numerics are exactly those of the released microsoft/rad-dino usage ([CARD]: CLS = ``last_hidden_state[:, 0]``,
patches = ``last_hidden_state[:, 1:]`` reshaped to ``(B, D, h, w)``). Position embeddings interpolate automatically
for any input size (bicubic, exact size, no antialias, as transformers does); sides are floored to the patch grid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from transformers import Dinov2Config, Dinov2Model, Dinov2WithRegistersModel

__all__ = ["RadDinoBackbone"]

# transformers model class keyed by "has register tokens" (no name tests)
_MODEL_CLASSES: dict[bool, type[nn.Module]] = {False: Dinov2Model, True: Dinov2WithRegistersModel}
_BLOCK_RE = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.")
_EMBED_RE = re.compile(r"(?:^|\.)embeddings\.")
# [DV2] utils/param_groups.py: no weight decay for ".bias", "norm" and LayerScale "gamma" (HF: "lambda1")
_NO_WD_RE = re.compile(r"(\.bias$|norm|lambda1|gamma)")


class RadDinoBackbone(nn.Module):
    """DINOv2 ViT backbone with the raddino_monai backbone contract (docs/architecture.md).

    Args:
        config: transformers ``Dinov2Config`` (or ``Dinov2WithRegistersConfig`` when it has register tokens),
            usually from :func:`raddino_monai.models.registry.build_hf_config`.

    Attributes:
        model: the wrapped transformers model.
        embed_dim: token width D.
        patch_size: patch side p.
        num_layers: number of blocks L.
        num_heads: attention heads.
        num_register_tokens: R (0 for RAD-DINO).

    Example::

        >>> backbone = create_backbone("tiny_vit_p16")
        >>> backbone(torch.rand(2, 3, 112, 112)).shape
        torch.Size([2, 192])
    """

    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        self.num_register_tokens = int(getattr(config, "num_register_tokens", 0) or 0)
        self.model = _MODEL_CLASSES[self.num_register_tokens > 0](config)
        self.embed_dim = int(config.hidden_size)
        self.patch_size = int(config.patch_size)
        self.num_layers = int(config.num_hidden_layers)
        self.num_heads = int(config.num_attention_heads)

    @property
    def config(self) -> Dinov2Config:
        """The transformers config of :attr:`model`."""
        return self.model.config

    def grid_size(self, x: torch.Tensor) -> tuple[int, int]:
        """Patch grid ``(h, w) = (H // p, W // p)`` of an input batch ``(B, C, H, W)``."""
        return x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size

    def _to_grid(self, tokens: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) patch tokens -> (B, D, h, w), row-major (token r * w + c is patch row r, column c)."""
        h, w = self.grid_size(x)
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normed CLS token.

        Args:
            x: images ``(B, 3, H, W)``.

        Returns:
            ``(B, D)`` = ``last_hidden_state[:, 0]`` (= transformers ``pooler_output``).
        """
        return self.model(pixel_values=x).last_hidden_state[:, 0]

    def forward_features(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Normed CLS and patch tokens, optionally with iBOT masking.

        Args:
            x: images ``(B, 3, H, W)``.
            masks: ``(B, N)`` bool with ``N = (H // p) * (W // p)``; True replaces that patch embedding by the
                learned mask token before CLS concatenation and position embedding
                ([DV2] ``prepare_tokens_with_masks``).

        Returns:
            ``{"cls_token": (B, D), "patch_tokens": (B, N, D), "patch_grid": (B, D, h, w)}``, all after the final
            LayerNorm; register tokens (if any) are dropped.

        Raises:
            ValueError: ``masks`` has the wrong shape.
        """
        if masks is not None:
            h, w = self.grid_size(x)
            if tuple(masks.shape) != (x.shape[0], h * w):
                raise ValueError(
                    f"masks must have shape (B, N) = ({x.shape[0]}, {h * w}) for input {tuple(x.shape)} and patch "
                    f"size {self.patch_size}; found {tuple(masks.shape)}."
                )
            masks = masks.to(device=x.device, dtype=torch.bool)
        tokens = self.model(pixel_values=x, bool_masked_pos=masks).last_hidden_state
        patch_tokens = tokens[:, 1 + self.num_register_tokens :]
        return {"cls_token": tokens[:, 0], "patch_tokens": patch_tokens, "patch_grid": self._to_grid(patch_tokens, x)}

    def forward_intermediates(
        self, x: torch.Tensor, indices: Sequence[int] = (4, 6, 9, 12), norm: bool = True
    ) -> list[torch.Tensor]:
        """Patch-token maps after chosen blocks (DINOv2 ``get_intermediate_layers(reshape=True, norm=norm)``).

        Args:
            x: images ``(B, 3, H, W)``.
            indices: block numbers, 1-based (``i`` = output of block ``i``; 0 = embeddings; negative counts from the
                end, ``-1`` = last block).
            norm: apply the final LayerNorm (``model.layernorm``) to each selected state, as DINOv2 does by default.

        Returns:
            one ``(B, D, h, w)`` tensor per index, CLS and register tokens removed.

        Raises:
            ValueError: an index is outside ``[-L - 1, L]``.
        """
        resolved = []
        for i in indices:
            if not -self.num_layers - 1 <= i <= self.num_layers:
                raise ValueError(
                    f"Block index {i} is out of range for {self.num_layers} blocks (valid 0..{self.num_layers})."
                )
            resolved.append(i % (self.num_layers + 1))
        hidden = self.model(pixel_values=x, output_hidden_states=True).hidden_states
        outs = []
        for i in resolved:
            state = self.model.layernorm(hidden[i]) if norm else hidden[i]
            outs.append(self._to_grid(state[:, 1 + self.num_register_tokens :], x))
        return outs

    def last_cls_tokens(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """Normed CLS tokens of the last ``n`` blocks ([DV2] ``get_intermediate_layers(n, return_class_token=True,
        norm=True)``, the input of DINOv2's ``eval/linear.py`` ``create_linear_input``).

        Args:
            x: images ``(B, 3, H, W)``.
            n: number of blocks, ``1 <= n <= num_layers`` (DINOv2 evaluates 1 and 4).

        Returns:
            ``(B, n, D)``: ``[:, -1]`` is the last block's CLS (= ``forward(x)``), ``[:, 0]`` the CLS of block
            ``L - n + 1``; each after the final LayerNorm (``model.layernorm``).

        Raises:
            ValueError: ``n`` outside ``[1, num_layers]``.
        """
        if not 1 <= n <= self.num_layers:
            raise ValueError(f"n must be in [1, {self.num_layers}] for this backbone; found {n}.")
        hidden = self.model(pixel_values=x, output_hidden_states=True).hidden_states
        return torch.stack([self.model.layernorm(h[:, 0]) for h in hidden[-n:]], dim=1)

    @contextmanager
    def _eager_attention(self) -> Iterator[None]:
        """Temporarily switch to eager attention (SDPA cannot return attention weights)."""
        previous = self.model.config._attn_implementation
        set_impl = getattr(self.model, "set_attn_implementation", None)
        try:
            if set_impl is not None:
                set_impl("eager")
            else:
                self.model.config._attn_implementation = "eager"
            yield
        finally:
            if set_impl is not None:
                set_impl(previous)
            else:
                self.model.config._attn_implementation = previous

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax attention of the last block (computed with eager attention for this call only).

        Args:
            x: images ``(B, 3, H, W)``.

        Returns:
            ``(B, heads, T, T)`` with ``T = 1 + R + N`` (token 0 = CLS, then R registers, then patches row-major;
            R = 0 for RAD-DINO). ``attention_maps(x)[:, :, 0, 1 + R:]`` is the CLS-to-patch attention.
        """
        with self._eager_attention():
            out = self.model(pixel_values=x, output_attentions=True)
        return out.attentions[-1]

    def layer_id(self, param_name: str) -> int:
        """Layer index for layer-wise lr decay ([DV2] ``get_vit_lr_decay_rate``).

        Args:
            param_name: name relative to this module (``"model.encoder.layer.3.norm1.weight"``) or to the
                transformers model.

        Returns:
            0 for embeddings (patch/position embeddings, CLS, mask and register tokens), ``i + 1`` for block ``i``,
            ``num_layers + 1`` for everything else (final LayerNorm).
        """
        block = _BLOCK_RE.search(param_name)
        if block:
            return int(block.group(1)) + 1
        if _EMBED_RE.search(param_name):
            return 0
        return self.num_layers + 1

    @staticmethod
    def is_patch_embed(param_name: str) -> bool:
        """True for the patch-embedding projection (DINOv2 ``patch_embed_lr_mult`` 0.2 applies) [DV2]."""
        return "patch_embeddings" in param_name

    @staticmethod
    def no_weight_decay(param_name: str) -> bool:
        """True for biases, norms and LayerScale, which DINOv2 trains without weight decay [DV2]."""
        return bool(_NO_WD_RE.search(param_name))

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Enable/disable activation checkpointing of every block (non-reentrant; active in training mode).

        Uses transformers' ``activation_checkpointing_enable`` (5.x) or ``gradient_checkpointing_enable`` (4.x).
        """
        enable_fn = getattr(self.model, "activation_checkpointing_enable", None)
        disable_fn = getattr(self.model, "activation_checkpointing_disable", None)
        if enable and enable_fn is not None:
            enable_fn(activation_checkpointing_kwargs={"use_reentrant": False})
        elif enable:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            (disable_fn or self.model.gradient_checkpointing_disable)()

    @property
    def grad_checkpointing(self) -> bool:
        """Whether activation checkpointing is on for any block."""
        return any(getattr(m, "gradient_checkpointing", False) for m in self.model.modules())

"""Image encoders ``f_v`` for ConVIRT: any registry ViT backbone (CLS or mean-patch pooled) or MONAI's ResNet-50.

The default is a backbone of our registry, so that a ConVIRT run and a RAD-DINO SSL run train the *same*
architecture and every frozen-feature evaluation compares like with like. [PAPER-CV] §3 uses an ImageNet-initialised
ResNet-50 (pooled 2048-d features); :class:`ResNet50ImageEncoder` builds it with MONAI's
``monai.networks.nets.resnet50`` in 2-D with torchvision's stem (7x7 stride-2 convolution, no bias in the downsample
convolutions), so the module names follow torchvision's ``resnet50`` layout (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0`` ...) and its parameter count is that of torchvision's ResNet-50 without ``fc``
(23,508,032). Nothing is downloaded: ImageNet weights, if wanted, come from a local file.

Every encoder has ``out_dim`` and ``forward(images (B, 3, H, W)) -> (B, out_dim)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from monai.networks.nets import resnet50
from torch import Tensor, nn

from raddino_monai.models.backbone import RadDinoBackbone
from raddino_monai.models.factory import create_backbone
from raddino_monai.models.registry import list_backbones
from raddino_monai.models.weights.safe_load import CheckpointError, load_checkpoint

__all__ = [
    "IMAGE_POOLINGS",
    "BackboneImageEncoder",
    "ResNet50ImageEncoder",
    "build_image_encoder",
    "image_feature_dim",
    "list_image_encoders",
]


def _cls(feats: dict[str, Tensor]) -> Tensor:
    return feats["cls_token"]


def _mean_patch(feats: dict[str, Tensor]) -> Tensor:
    return feats["patch_tokens"].mean(dim=1)


#: pooling name -> function of ``RadDinoBackbone.forward_features`` output, ``(B, D)``; the same two poolings as
#: :data:`raddino_monai.inference.POOLINGS` ``cls`` / ``mean``, so exported encoders are evaluated as trained.
IMAGE_POOLINGS: dict[str, Callable[[dict[str, Tensor]], Tensor]] = {"cls": _cls, "mean": _mean_patch}


class BackboneImageEncoder(nn.Module):
    """A registry ViT backbone followed by CLS or mean-patch pooling.

    Args:
        backbone: e.g. ``create_backbone("raddino_vitb14", weights=...)``.
        pooling: ``"cls"`` (normed CLS token, RAD-DINO's image embedding [CARD]) or ``"mean"`` (mean of the normed
            patch tokens).

    The backbone's iBOT ``mask_token`` is frozen (ConVIRT never masks patches).

    Raises:
        ValueError: unknown ``pooling`` (valid values listed).

    Example:
        >>> enc = BackboneImageEncoder(create_backbone("tiny_vit_p16"), pooling="mean")
        >>> enc(torch.rand(2, 3, 112, 112)).shape
        torch.Size([2, 192])
    """

    def __init__(self, backbone: RadDinoBackbone, pooling: str = "cls") -> None:
        super().__init__()
        if pooling not in IMAGE_POOLINGS:
            raise ValueError(f"Unknown image pooling {pooling!r}; valid values are {sorted(IMAGE_POOLINGS)}.")
        self.backbone = backbone
        self.pooling = pooling
        self.out_dim = backbone.embed_dim
        mask_token = getattr(backbone.model.embeddings, "mask_token", None)
        if isinstance(mask_token, nn.Parameter):
            # the iBOT mask token is only used with masks, which ConVIRT never passes: frozen (kept in the state
            # dict, so exports stay complete) so that DDP finds no trainable parameter without gradient
            mask_token.requires_grad_(False)

    def forward(self, images: Tensor) -> Tensor:
        """Args: images: ``(B, 3, H, W)``. Returns: ``(B, embed_dim)`` pooled features ``h_v``."""
        return IMAGE_POOLINGS[self.pooling](self.backbone.forward_features(images))

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}, out_dim={self.out_dim}"


class ResNet50ImageEncoder(nn.Module):
    """MONAI 2-D ResNet-50 with torchvision's layout, returning the global-average-pooled 2048-d features.

    Args:
        in_channels: input channels (3: grey radiographs are repeated to RGB, as for ImageNet weights).

    Example:
        >>> ResNet50ImageEncoder()(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 2048])
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        # torchvision resnet50 stem and downsample (what [PAPER-CV] used); MONAI's defaults (stride-1 stem, biased
        # downsample) follow MedicalNet instead. feed_forward=False drops the classifier: forward gives (B, 2048).
        self.resnet = resnet50(
            spatial_dims=2, n_input_channels=in_channels, conv1_t_size=7, conv1_t_stride=2, bias_downsample=False,
            feed_forward=False,
        )
        self.out_dim = 2048

    def forward(self, images: Tensor) -> Tensor:
        """Args: images: ``(B, C, H, W)``. Returns: ``(B, 2048)`` pooled features ``h_v``."""
        return self.resnet(images)

    def load_weights(self, path: str | Path, prefix: str = "") -> None:
        """Load a local ResNet-50 state dict strictly (classifier ``fc.*`` keys are ignored).

        Args:
            path: ``.safetensors`` or ``torch.save`` file with torchvision-style keys (``conv1.weight`` ...),
                e.g. a locally stored ImageNet checkpoint; read with ``weights_only=True``.
            prefix: key prefix to strip (e.g. ``"module."`` or ``"image_encoder.resnet."``).

        Raises:
            CheckpointError: unreadable file, or keys / shapes that do not fit (the first ones listed).
        """
        state = load_checkpoint(path)
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        expected = self.resnet.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
        if missing or unexpected or wrong:
            raise CheckpointError(
                f"{path}: not a ResNet-50 state dict for this encoder (prefix {prefix!r}): "
                f"{len(missing)} missing {missing[:5]}, {len(unexpected)} unexpected {unexpected[:5]}, "
                f"{len(wrong)} with other shapes {wrong[:5]}."
            )
        self.resnet.load_state_dict(state, strict=True)


def _build_backbone_encoder(name: str, weights: str | Path | None, pooling: str, **overrides: Any) -> nn.Module:
    return BackboneImageEncoder(create_backbone(name, weights=weights, **overrides), pooling=pooling)


def _build_resnet50(name: str, weights: str | Path | None, pooling: str, **overrides: Any) -> nn.Module:
    if overrides:
        raise ValueError(f"resnet50 takes no architecture overrides, found {sorted(overrides)}.")
    encoder = ResNet50ImageEncoder()
    if weights is not None:
        encoder.load_weights(weights)
    return encoder


def _builders() -> dict[str, Callable[..., nn.Module]]:
    return {**{name: _build_backbone_encoder for name in list_backbones()}, "resnet50": _build_resnet50}


def list_image_encoders() -> list[str]:
    """Names accepted by :func:`build_image_encoder`: every registry backbone and ``"resnet50"``."""
    return sorted(_builders())


def build_image_encoder(
    name: str = "raddino_vitb14", *, weights: str | Path | None = None, pooling: str = "cls", **overrides: Any
) -> nn.Module:
    """Build ``f_v``.

    Args:
        name: a registry backbone (:func:`~raddino_monai.models.list_backbones`; default ``"raddino_vitb14"``, the
            RAD-DINO architecture) or ``"resnet50"`` ([PAPER-CV]).
        weights: local weights: for backbones anything :func:`~raddino_monai.models.create_backbone` takes (HF folder,
            safetensors, DINOv2 checkpoint); for ResNet-50 a torchvision-style state dict. ``None`` = random init.
        pooling: ``"cls"`` or ``"mean"`` for backbones (ignored by ResNet-50, which is always average-pooled).
        overrides: backbone architecture overrides (``image_size=224``, ``drop_path_rate=0.1`` ...).

    Returns:
        an encoder with ``out_dim`` and ``forward(images) -> (B, out_dim)``.

    Raises:
        ValueError: unknown ``name`` or ``pooling`` (valid values listed).
        CheckpointError: weights that cannot be read or do not fit.
    """
    builders = _builders()
    if name not in builders:
        raise ValueError(f"Unknown image encoder {name!r}; valid values are {sorted(builders)}.")
    if pooling not in IMAGE_POOLINGS:
        raise ValueError(f"Unknown image pooling {pooling!r}; valid values are {sorted(IMAGE_POOLINGS)}.")
    return builders[name](name, weights, pooling, **overrides)


def image_feature_dim(encoder: nn.Module) -> int:
    """``out_dim`` of an image encoder (checked, so a custom module without it fails with a clear error)."""
    dim = getattr(encoder, "out_dim", None)
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{type(encoder).__name__} must define an integer out_dim >= 1, found {dim!r}.")
    return dim


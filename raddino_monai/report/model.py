"""ReportGenerator: frozen-encoder tokens -> projector -> image tokens spliced into a causal LM's prompt (LLaVA-1.5).

Splicing ([LLaVA] ``llava_arch.py: prepare_inputs_labels_for_multimodal``, vectorised): each prompt holds the image
placeholder id once; its single position is replaced by the ``N`` projected tokens, so every row grows by the same
``N - 1`` and padding stays where it was (right for training, left for generation). Labels of the image positions
are :data:`~raddino_monai.report.config.IGNORE_INDEX`; the attention mask is 1 there. The placeholder id is masked
out before the embedding lookup (it may lie beyond the LM's vocabulary: the embeddings are never resized).

The training loss is the summed token cross-entropy (the trainer divides by the global batch's target-token count,
so gradient accumulation gives the gradient of one large batch); only the logits from the first target position on
are computed (``logits_to_keep``), as the prompt prefix has the same length in every row.

Shapes: ``features (B, N, D)``; ``input_ids``, ``attention_mask``, ``labels`` ``(B, T)``; spliced sequences
``(B, T + N - 1, H)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from raddino_monai.report.config import IGNORE_INDEX, ReportGenerationConfig, ReportModelConfig
from raddino_monai.report.decoding import greedy_without_cache
from raddino_monai.report.features import EncoderReference, feature_tokens
from raddino_monai.report.projector import build_projector
from raddino_monai.report.prompt import add_image_token, encode_prompt

__all__ = ["ReportGenerator", "splice_image_tokens", "autocast_context"]


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for ``"bf16"``, nothing for ``"fp32"``."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def splice_image_tokens(
    text_embeds: torch.Tensor,
    image_embeds: torch.Tensor,
    positions: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Replace position ``positions[b]`` of row ``b`` by the ``N`` image embeddings.

    Args:
        text_embeds: ``(B, T, H)`` token embeddings (the placeholder position's value is discarded).
        image_embeds: ``(B, N, H)``.
        positions: ``(B,)`` placeholder index per row.
        attention_mask: ``(B, T)``.
        labels: ``(B, T)`` or ``None``.

    Returns:
        ``(embeds (B, T + N - 1, H), attention_mask (B, T + N - 1), labels (B, T + N - 1) or None)``.
    """
    batch, length, hidden = text_embeds.shape
    n = image_embeds.shape[1]
    j = torch.arange(length + n - 1, device=text_embeds.device)[None]
    p = positions[:, None]
    is_image = (j >= p) & (j < p + n)
    text_index = torch.where(j < p, j, j - n + 1).clamp(0, length - 1)
    image_index = (j - p).clamp(0, n - 1)
    gathered_text = text_embeds.gather(1, text_index[..., None].expand(batch, -1, hidden))
    gathered_image = image_embeds.to(text_embeds.dtype).gather(1, image_index[..., None].expand(batch, -1, hidden))
    embeds = torch.where(is_image[..., None], gathered_image, gathered_text)
    mask = torch.where(is_image, torch.ones_like(attention_mask[:, :1]), attention_mask.gather(1, text_index))
    new_labels = None
    if labels is not None:
        new_labels = torch.where(is_image, torch.full_like(labels[:, :1], IGNORE_INDEX), labels.gather(1, text_index))
    return embeds, mask, new_labels


class ReportGenerator(nn.Module):
    """Projector + causal LM (+ an optional frozen encoder for image input).

    Args:
        lm: a transformers causal LM (``PreTrainedModel`` or a peft wrapper of one).
        tokenizer: its tokenizer; the image token and a pad token are added if missing.
        feature_dim: encoder width ``D``.
        config: :class:`~raddino_monai.report.config.ReportModelConfig`.
        projector: a trained projector; default: ``build_projector(config.projector, D, H)`` at torch's init.
        encoder: frozen backbone with ``forward_features`` (needed only by :meth:`encode_images`).
        lm_source: the spec the LM was loaded from (saved with the model).
        encoder_ref: the encoder's :class:`~raddino_monai.report.features.EncoderReference` (saved with the model).

    Example::

        >>> lm, tok = load_causal_lm("smollm2")
        >>> model = ReportGenerator(lm, tok, feature_dim=768, config=ReportModelConfig(template="chat"))
        >>> model.generate(features)  # features (B, 1369, 768) -> list of B reports
    """

    def __init__(
        self,
        lm: nn.Module,
        tokenizer: Any,
        feature_dim: int,
        config: ReportModelConfig | None = None,
        projector: nn.Module | None = None,
        encoder: nn.Module | None = None,
        lm_source: str | None = None,
        encoder_ref: EncoderReference | None = None,
    ) -> None:
        super().__init__()
        self.config = config or ReportModelConfig()
        self.lm = lm
        self.tokenizer = tokenizer
        self.feature_dim = int(feature_dim)
        self.hidden_size = int(lm.get_input_embeddings().embedding_dim)
        self.projector = projector or build_projector(self.config.projector, self.feature_dim, self.hidden_size)
        self.encoder = encoder
        if encoder is not None:
            encoder.requires_grad_(False)
        self.lm_source, self.encoder_ref = lm_source, encoder_ref
        self.mode = "projector"
        self.image_token_id = add_image_token(tokenizer, self.config.image_token)
        self.prompt_ids = encode_prompt(tokenizer, self.config)

    @property
    def device(self) -> torch.device:
        """Device of the projector."""
        return next(self.projector.parameters()).device

    def train(self, mode: bool = True) -> ReportGenerator:
        """Train/eval mode for projector and LM; the encoder always stays in eval mode."""
        super().train(mode)
        if self.encoder is not None:
            self.encoder.eval()
        return self

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen-encoder tokens of preprocessed images.

        Args:
            images: ``(B, 3, S, S)``, as from ``raddino_preprocessing``.

        Returns:
            ``(B, N, D)`` float32 (``N = (S / patch)^2 + use_cls``).

        Raises:
            RuntimeError: the model has no encoder.
        """
        if self.encoder is None:
            raise RuntimeError("ReportGenerator.encode_images needs an encoder (load_report_model(with_encoder=True)).")
        with torch.no_grad():
            feats = self.encoder.forward_features(images)
        return feature_tokens(feats["cls_token"], feats["patch_tokens"], self.config.use_cls).float()

    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        features: torch.Tensor | None,
        labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """LM input embeddings with the image tokens spliced in (see :func:`splice_image_tokens`).

        Raises:
            ValueError: a row holds the placeholder a number of times other than once (zero for text-only
                configs), or features are missing / have the wrong width.
        """
        is_image = input_ids == self.image_token_id
        counts = is_image.sum(dim=1)
        expected = 1 if self.config.image_tokens else 0
        if bool((counts != expected).any()):
            raise ValueError(f"Every row must hold the image token {expected} time(s); found {counts.tolist()}.")
        text_embeds = self.lm.get_input_embeddings()(input_ids.masked_fill(is_image, 0))
        if not self.config.image_tokens:
            return text_embeds, attention_mask, labels
        if features is None or features.ndim != 3 or features.shape[-1] != self.feature_dim:
            found = None if features is None else tuple(features.shape)
            raise ValueError(f"features must be (B, N, {self.feature_dim}), found {found}.")
        image_embeds = self.projector(features.to(self.device))
        return splice_image_tokens(text_embeds, image_embeds, is_image.int().argmax(dim=1), attention_mask, labels)

    def forward(
        self, features: torch.Tensor | None, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Next-token logits over the spliced sequence, ``(B, T + N - 1, V)``."""
        embeds, mask, _ = self.embed(input_ids, attention_mask, features)
        return self.lm(inputs_embeds=embeds, attention_mask=mask, use_cache=False).logits

    def loss(
        self,
        features: torch.Tensor | None,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """Summed next-token cross-entropy over the target tokens (``labels != IGNORE_INDEX``), in float32.

        Returns:
            scalar tensor; divide by the number of target tokens for the mean.
        """
        embeds, mask, spliced = self.embed(input_ids, attention_mask, features, labels)
        assert spliced is not None
        targets = spliced != IGNORE_INDEX
        if not bool(targets.any()):
            return embeds.sum() * 0.0
        first = int(targets.int().argmax(dim=1).masked_fill(~targets.any(dim=1), spliced.shape[1]).min())
        keep = spliced.shape[1] - first + 1  # logits of positions first-1 .. T'-1 predict tokens first .. T'
        logits = self.lm(inputs_embeds=embeds, attention_mask=mask, use_cache=False, logits_to_keep=keep).logits
        return F.cross_entropy(
            logits[:, :-1].float().flatten(0, 1), spliced[:, first:].flatten(), ignore_index=IGNORE_INDEX,
            reduction="sum",
        )

    def prompt_batch(self, batch_size: int, prompts: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded prompt ids and attention mask for generation, ``(B, T)`` each."""
        rows = [self.prompt_ids] * batch_size if prompts is None else [encode_prompt(self.tokenizer, self.config, p)
                                                                     for p in prompts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), int(self.tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
        return ids.to(self.device), mask.to(self.device)

    def generation_config(self, config: ReportGenerationConfig) -> Any:
        """A transformers ``GenerationConfig``: deterministic (greedy or beam), stops at eos, never emits the
        placeholder."""
        from transformers import GenerationConfig

        vocab = self.lm.get_output_embeddings().weight.shape[0]
        return GenerationConfig(
            max_new_tokens=config.max_new_tokens, min_new_tokens=config.min_new_tokens or None,
            num_beams=config.num_beams, do_sample=False, use_cache=True, pad_token_id=int(self.tokenizer.pad_token_id),
            eos_token_id=int(self.tokenizer.eos_token_id),
            suppress_tokens=[self.image_token_id] if self.image_token_id < vocab else None,
        )

    @torch.no_grad()
    def generate_ids(
        self,
        features: torch.Tensor | None,
        config: ReportGenerationConfig | None = None,
        prompts: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """Generated token ids (prompt excluded), padded with the pad id: ``(B, L)``, ``L <= max_new_tokens``.

        With ``config.use_cache`` transformers' ``generate`` decodes (greedy or beam, KV cache); without it,
        :func:`~raddino_monai.report.decoding.greedy_without_cache` recomputes the sequence at every step.

        Args:
            features: ``(B, N, D)`` encoder tokens (``None`` for text-only configs; then give ``batch_size``).
            config: decoding settings (default :class:`ReportGenerationConfig`).
            prompts: one prompt per row instead of ``config.prompt`` (each with the image token).
            batch_size: rows, when ``features`` is None.
        """
        config = config or ReportGenerationConfig()
        rows = features.shape[0] if features is not None else (len(prompts) if prompts is not None else batch_size)
        if not rows:
            raise ValueError("generate_ids: give features, prompts or batch_size.")
        ids, mask = self.prompt_batch(int(rows), prompts)
        was_training = self.training
        self.eval()
        try:
            with autocast_context(config.precision, self.device):
                embeds, mask, _ = self.embed(ids, mask, features)
                if config.use_cache:
                    out = self.lm.generate(inputs_embeds=embeds, attention_mask=mask,
                                           generation_config=self.generation_config(config))
                else:  # transformers keeps a cache whenever it starts from inputs_embeds: our own loop
                    out = greedy_without_cache(
                        self.lm, embeds, mask, config.max_new_tokens, int(self.tokenizer.eos_token_id),
                        int(self.tokenizer.pad_token_id), config.min_new_tokens, self.image_token_id)
        finally:
            self.train(was_training)
        return out

    def decode(self, token_ids: torch.Tensor) -> list[str]:
        """Token ids ``(B, L)`` -> stripped texts (special tokens and padding removed)."""
        return [t.strip() for t in self.tokenizer.batch_decode(token_ids, skip_special_tokens=True)]

    def generate(
        self,
        features: torch.Tensor | None,
        config: ReportGenerationConfig | None = None,
        prompts: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> list[str]:
        """Reports for a batch of encoder tokens (see :meth:`generate_ids`)."""
        return self.decode(self.generate_ids(features, config, prompts, batch_size))

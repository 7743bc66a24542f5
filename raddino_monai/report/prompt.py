"""Prompts, the image token and label masking: text -> token ids for training and generation.

The image placeholder is a real special token added to the tokenizer (:func:`add_image_token`), so
``tokenizer(prompt)`` yields exactly one id for it whatever the surrounding text; the model replaces that one
position by the ``N`` projected image tokens before the LM sees it (:mod:`raddino_monai.report.model`). The LM's
embedding matrix is never resized: the placeholder id is never looked up, so projector-only training leaves every LM
weight untouched and the placeholder can never be generated.

A training example is ``prompt ids + answer ids``; labels are :data:`IGNORE_INDEX` on the prompt (and, after
splicing, on the image tokens and padding), so the loss covers the report and its end-of-sequence token only
([LLaVA] ``preprocess_v1`` masks the instruction the same way).

Truncation policy: the whole sequence (image tokens included) is at most ``model_max_length`` tokens; a report that
does not fit is cut at the budget and then has no end-of-sequence token, so the model is never taught to stop in
the middle of a sentence. Prompts are never cut (a prompt that does not fit raises).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raddino_monai.report.config import IGNORE_INDEX, ReportModelConfig

__all__ = ["PromptTemplate", "TEMPLATES", "add_image_token", "render_prompt", "encode_prompt", "encode_example"]

_VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


def _vicuna_v1(tokenizer: Any, prompt: str) -> str:
    # [LLaVA] conv_vicuna_v1 (SeparatorStyle.TWO): "<system> USER: <prompt> ASSISTANT:" + " <answer></s>"
    return f"{_VICUNA_SYSTEM} USER: {prompt} ASSISTANT:"


def _chat(tokenizer: Any, prompt: str) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"template 'chat' needs a tokenizer with a chat template; {type(tokenizer).__name__} has none. Use "
            "'vicuna_v1' or 'plain'."
        )
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)


def _plain(tokenizer: Any, prompt: str) -> str:
    return prompt


@dataclass(frozen=True)
class PromptTemplate:
    """How an instruction is rendered before the answer.

    Args:
        render: ``(tokenizer, prompt) -> text`` up to where the answer starts.
        answer_prefix: text put before the report (a space after ``ASSISTANT:`` in [LLaVA] v1).
        add_special_tokens: let the tokenizer add its BOS to the rendered prompt (False when the chat template
            writes its own special tokens).
    """

    render: Callable[[Any, str], str]
    answer_prefix: str
    add_special_tokens: bool


#: template name -> :class:`PromptTemplate`
TEMPLATES: dict[str, PromptTemplate] = {
    "vicuna_v1": PromptTemplate(_vicuna_v1, " ", True),
    "chat": PromptTemplate(_chat, "", False),
    "plain": PromptTemplate(_plain, " ", True),
}


def _template(name: str) -> PromptTemplate:
    if name not in TEMPLATES:
        raise ValueError(f"Unknown prompt template {name!r}; valid values: {sorted(TEMPLATES)}.")
    return TEMPLATES[name]


def add_image_token(tokenizer: Any, image_token: str) -> int:
    """Register ``image_token`` as an additional special token (if needed) and give the tokenizer a pad token.

    The pad token is the tokenizer's ``unk`` token if it has one, else its ``eos`` ([LLaVA] pads Vicuna with unk);
    padding positions are masked by the attention mask and the labels, so its value does not matter.

    Args:
        tokenizer: a transformers tokenizer (modified in place).
        image_token: the placeholder string, e.g. ``"<image>"``.

    Returns:
        the placeholder's token id.

    Raises:
        ValueError: the tokenizer has no eos token, or the placeholder does not encode to a single id.
    """
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__} has no eos token; report generation needs one to stop.")
    if image_token not in tokenizer.get_vocab():
        tokenizer.add_tokens([image_token], special_tokens=True)  # same call in transformers 4.x and 5.x
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.unk_token if tokenizer.unk_token is not None else tokenizer.eos_token
    ids = tokenizer(f"a {image_token} b", add_special_tokens=False).input_ids
    token_id = tokenizer.convert_tokens_to_ids(image_token)
    if ids.count(token_id) != 1:
        raise ValueError(f"The image token {image_token!r} does not encode to one special token id (got {ids}).")
    return int(token_id)


def render_prompt(tokenizer: Any, config: ReportModelConfig, prompt: str | None = None) -> str:
    """The template applied to ``prompt`` (default ``config.prompt``); without the image token if text-only.

    Raises:
        ValueError: unknown template, or a prompt without exactly one image token.
    """
    text = config.prompt if prompt is None else prompt
    if text.count(config.image_token) != 1:
        raise ValueError(f"The prompt must contain {config.image_token!r} exactly once, found {text!r}.")
    if not config.image_tokens:
        text = " ".join(text.replace(config.image_token, " ").split())
    return _template(config.template).render(tokenizer, text)


def encode_prompt(tokenizer: Any, config: ReportModelConfig, prompt: str | None = None) -> list[int]:
    """Token ids of the rendered prompt; holds the image token id once (none if ``config.image_tokens`` is False).

    Raises:
        ValueError: the image token is missing from the tokenizer or not found exactly once in the ids.
    """
    template = _template(config.template)
    ids = tokenizer(render_prompt(tokenizer, config, prompt), add_special_tokens=template.add_special_tokens).input_ids
    image_id = tokenizer.convert_tokens_to_ids(config.image_token)
    expected = 1 if config.image_tokens else 0
    if ids.count(image_id) != expected:
        raise ValueError(
            f"Prompt ids hold the image token {ids.count(image_id)} times, expected {expected}; call "
            "add_image_token(tokenizer, config.image_token) first."
        )
    return list(ids)


def encode_example(
    tokenizer: Any, config: ReportModelConfig, prompt_ids: list[int], report: str, n_image_tokens: int
) -> tuple[list[int], list[int], bool]:
    """``prompt + report`` ids and labels for training, truncated to ``config.model_max_length`` after splicing.

    Args:
        tokenizer: tokenizer with the image token.
        config: the model config (template and length budget).
        prompt_ids: from :func:`encode_prompt`.
        report: the reference text.
        n_image_tokens: tokens the image placeholder expands to (ignored for text-only configs).

    Returns:
        ``(input_ids, labels, truncated)``; labels are :data:`IGNORE_INDEX` on the prompt. Lengths are equal and
        count the placeholder as one token.

    Raises:
        ValueError: the prompt and the image tokens alone exceed ``model_max_length``.
    """
    spliced_prompt = len(prompt_ids) + (n_image_tokens - 1 if config.image_tokens else 0)
    budget = config.model_max_length - spliced_prompt
    if budget < 1:
        raise ValueError(
            f"Prompt ({len(prompt_ids)} tokens) plus {n_image_tokens} image tokens leave no room for the report "
            f"within model_max_length={config.model_max_length}."
        )
    prefix = _template(config.template).answer_prefix
    answer = list(tokenizer(prefix + report.strip(), add_special_tokens=False).input_ids) + [tokenizer.eos_token_id]
    truncated = len(answer) > budget
    answer = answer[:budget] if truncated else answer
    return list(prompt_ids) + answer, [IGNORE_INDEX] * len(prompt_ids) + answer, truncated

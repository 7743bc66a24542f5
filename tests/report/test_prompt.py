"""Prompt rendering, the image special token, label masking and the truncation policy."""

from __future__ import annotations

import pytest

from raddino_monai.report.config import DEFAULT_PROMPT, IGNORE_INDEX, ReportModelConfig
from raddino_monai.report.prompt import add_image_token, encode_example, encode_prompt, render_prompt

from .helpers import make_tokenizer


@pytest.fixture
def tokenizer():
    tok = make_tokenizer()
    add_image_token(tok, "<image>")
    return tok


def test_image_token_is_one_special_id(tokenizer) -> None:
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert image_id == len(tokenizer) - 1  # appended after the trained vocabulary: the LM never embeds it
    for text in ("<image>", "x<image>y", " <image> Provide", "<image><image>"):
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert ids.count(image_id) == text.count("<image>")
    assert tokenizer.decode([image_id], skip_special_tokens=True) == ""
    assert add_image_token(tokenizer, "<image>") == image_id  # idempotent
    assert tokenizer.pad_token == tokenizer.unk_token


def test_vicuna_v1_template_is_llava_conversation(tokenizer) -> None:
    # [LLaVA] conv_vicuna_v1.get_prompt() with messages [(USER, prompt), (ASSISTANT, None)]
    system = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
              "detailed, and polite answers to the user's questions.")
    assert render_prompt(tokenizer, ReportModelConfig()) == f"{system} USER: {DEFAULT_PROMPT} ASSISTANT:"
    plain = render_prompt(tokenizer, ReportModelConfig(template="plain", image_tokens=False))
    assert plain == "Provide a description of the findings in the radiology image."


def test_prompt_ids_and_label_masking(tokenizer) -> None:
    config = ReportModelConfig(template="plain")
    prompt = encode_prompt(tokenizer, config)
    assert prompt.count(tokenizer.convert_tokens_to_ids("<image>")) == 1
    ids, labels, truncated = encode_example(tokenizer, config, prompt, "No effusion.", n_image_tokens=4)
    assert not truncated and len(ids) == len(labels)
    assert labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    answer = tokenizer(" No effusion.", add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    assert ids[len(prompt):] == labels[len(prompt):] == answer
    assert tokenizer.decode(ids[len(prompt):-1]) == " No effusion."


def test_truncation_policy_counts_image_tokens_and_drops_eos(tokenizer) -> None:
    prompt_len = len(encode_prompt(tokenizer, ReportModelConfig(template="plain")))
    n_image = 10
    config = ReportModelConfig(template="plain", model_max_length=prompt_len - 1 + n_image + 3)
    prompt = encode_prompt(tokenizer, config)
    ids, labels, truncated = encode_example(tokenizer, config, prompt, "The lungs are clear. No pneumothorax.", n_image)
    assert truncated and len(ids) - 1 + n_image == config.model_max_length  # spliced length = the budget
    assert ids[-1] != tokenizer.eos_token_id  # a cut report is not taught to stop
    short = encode_example(tokenizer, config, prompt, "Clear.", n_image)
    assert short[0][-1] == tokenizer.eos_token_id or short[2]
    too_small = ReportModelConfig(template="plain", model_max_length=prompt_len + n_image - 1)
    with pytest.raises(ValueError, match="leave no room for the report"):
        encode_example(tokenizer, too_small, prompt, "Clear.", n_image)


def test_text_only_prompt_has_no_image_token(tokenizer) -> None:
    config = ReportModelConfig(template="plain", image_tokens=False)
    ids = encode_prompt(tokenizer, config)
    assert tokenizer.convert_tokens_to_ids("<image>") not in ids


def test_errors(tokenizer) -> None:
    with pytest.raises(ValueError, match="exactly once"):
        ReportModelConfig(prompt="Describe the image.")
    with pytest.raises(ValueError, match="Unknown prompt template 'llama3'; valid values"):
        render_prompt(tokenizer, ReportModelConfig(template="llama3"))
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        render_prompt(tokenizer, ReportModelConfig(template="chat"))
    fresh = make_tokenizer()
    with pytest.raises(ValueError, match="call add_image_token"):
        encode_prompt(fresh, ReportModelConfig(template="plain"))

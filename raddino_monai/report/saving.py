"""Trained report models on disk: one folder, safetensors weights, a JSON config, references to the encoder and LM.

Layout (``FORMAT_VERSION`` 1)::

    report_config.json     {"format_version", "model": ReportModelConfig, "feature_dim", "mode",
                            "lm": {"source": spec, "hidden_size"}, "encoder": EncoderReference | null}
    projector.safetensors  the projector's state_dict
    tokenizer/             the tokenizer with the image token (save_pretrained)
    adapter/               mode "lora": peft adapter (adapter_model.safetensors + adapter_config.json)
    lm/                    mode "full": the fine-tuned LM (save_pretrained, safetensors)

In mode ``projector`` the LM is unchanged and only referenced by its spec (an HF folder, a ``.gguf`` file or a
packaged name such as ``"smollm2"``); ``load_report_model(..., lm=...)`` points elsewhere when it moved. The encoder
is referenced the same way (``encoder_weights=`` overrides it; a random-init encoder is rebuilt from its seed).
The folder is written under a temporary name and renamed into place, so a crash never leaves a half-written model,
and an existing folder is never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from raddino_monai.report.config import ReportModelConfig
from raddino_monai.report.features import EncoderReference
from raddino_monai.report.lm import load_causal_lm
from raddino_monai.report.model import ReportGenerator
from raddino_monai.report.projector import build_projector

__all__ = ["FORMAT_VERSION", "CONFIG_NAME", "save_report_model", "read_report_config", "load_report_model",
           "load_projector_into"]

FORMAT_VERSION = 1
CONFIG_NAME = "report_config.json"
#: training mode -> folder holding the LM weights that differ from the base LM (None: the base LM is used as is)
_LM_FOLDERS: dict[str, str | None] = {"projector": None, "lora": "adapter", "full": "lm"}


def _write_lm(model: ReportGenerator, folder: Path) -> None:
    sub = _LM_FOLDERS[model.mode]
    if sub is not None:
        model.lm.save_pretrained(str(folder / sub), safe_serialization=True)


def save_report_model(model: ReportGenerator, folder: str | Path) -> Path:
    """Write ``model`` to a new folder (see the module docstring for the layout).

    Args:
        model: a trained (or fresh) model; ``model.mode`` decides which LM weights are written.
        folder: output folder; must not exist yet.

    Returns:
        ``folder``.

    Raises:
        FileExistsError: ``folder`` exists (nothing is overwritten).
        ValueError: the model has no ``lm_source`` (the spec it was loaded from), or an unknown mode.
    """
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"Report model folder {folder} exists; choose a new one (nothing is overwritten).")
    if model.lm_source is None:
        raise ValueError("save_report_model: model.lm_source is None; build the model with lm_source=<LM spec>.")
    if model.mode not in _LM_FOLDERS:
        raise ValueError(f"model.mode={model.mode!r}; valid values: {sorted(_LM_FOLDERS)}.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    config = {
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "feature_dim": model.feature_dim,
        "mode": model.mode,
        "lm": {"source": str(model.lm_source), "hidden_size": model.hidden_size},
        "encoder": model.encoder_ref.to_dict() if model.encoder_ref is not None else None,
    }
    save_file({k: v.detach().contiguous().cpu() for k, v in model.projector.state_dict().items()},
              str(tmp / "projector.safetensors"))
    model.tokenizer.save_pretrained(str(tmp / "tokenizer"))
    _write_lm(model, tmp)
    (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2))  # written last: its presence marks completeness
    os.replace(tmp, folder)
    return folder


def read_report_config(folder: str | Path) -> dict[str, Any]:
    """The ``report_config.json`` of a saved model.

    Raises:
        FileNotFoundError: no config in ``folder``.
        ValueError: another format version.
    """
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {folder} is not a saved report model (save_report_model).")
    config = json.loads(path.read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {config.get('format_version')!r}, expected {FORMAT_VERSION}.")
    return config


def _load_lm(folder: Path, mode: str, source: str, dtype: torch.dtype) -> Any:
    from transformers import AutoModelForCausalLM

    if mode == "full":
        return AutoModelForCausalLM.from_pretrained(str(folder / "lm"), local_files_only=True).to(dtype).eval()
    base, _ = load_causal_lm(source, dtype=dtype)
    if mode == "lora":
        from peft import PeftModel

        return PeftModel.from_pretrained(base, str(folder / "adapter"), is_trainable=False).eval()
    return base


def load_report_model(
    folder: str | Path,
    *,
    with_encoder: bool = False,
    encoder_weights: str | None = None,
    lm: str | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> ReportGenerator:
    """Load a model written by :func:`save_report_model`, in eval mode.

    Args:
        folder: the saved model.
        with_encoder: also build the referenced encoder (needed for image input: bundle, ``encode_images``).
        encoder_weights: use these encoder weights instead of the saved reference.
        lm: load the base LM from this spec instead of the saved one (modes ``projector`` / ``lora``).
        device: torch device.
        dtype: LM parameter dtype.

    Returns:
        the :class:`~raddino_monai.report.model.ReportGenerator`.

    Raises:
        FileNotFoundError / ValueError: see :func:`read_report_config`; a missing LM or encoder path is named.

    Example::

        >>> model = load_report_model("runs/report/model", with_encoder=True)
        >>> model.generate(model.encode_images(images))
    """
    from transformers import AutoTokenizer

    folder = Path(folder)
    config = read_report_config(folder)
    model_config = ReportModelConfig(**config["model"])
    mode, source = config["mode"], lm or config["lm"]["source"]
    language_model = _load_lm(folder, mode, source, dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)
    projector = build_projector(model_config.projector, int(config["feature_dim"]), int(config["lm"]["hidden_size"]))
    projector.load_state_dict(load_file(str(folder / "projector.safetensors")))
    ref = EncoderReference(**config["encoder"]) if config["encoder"] is not None else None
    if ref is not None and encoder_weights is not None:
        ref.weights = str(encoder_weights)
    encoder = None
    if with_encoder:
        if ref is None:
            raise ValueError(f"{folder}: the model was saved without an encoder reference; cannot read images.")
        encoder = ref.build(base_dir=folder)
    model = ReportGenerator(language_model, tokenizer, int(config["feature_dim"]), model_config, projector=projector,
                            encoder=encoder, lm_source=source, encoder_ref=ref)
    model.mode = mode
    return model.to(device).eval()


def load_projector_into(model: ReportGenerator, folder: str | Path) -> ReportGenerator:
    """Start ``model`` from the projector of a saved model: LLaVA's stage 2 (LoRA or full fine-tune) starts from
    the stage-1 projector (LLaVA ``finetune.sh --pretrain_mm_mlp_adapter``; LLaVA-Rad: stage 1 projector only, then
    LoRA).

    Args:
        model: the model about to be trained (its projector is overwritten in place).
        folder: a model saved by :func:`save_report_model` (e.g. a ``--mode projector`` run's ``model/``).

    Returns:
        ``model``.

    Raises:
        ValueError: the saved projector has another type, feature width or LM width (both values named).
    """
    folder = Path(folder)
    config = read_report_config(folder)
    saved = (config["model"].get("projector"), int(config["feature_dim"]), int(config["lm"]["hidden_size"]))
    wanted = (model.config.projector, model.feature_dim, model.hidden_size)
    if saved != wanted:
        raise ValueError(f"{folder}: projector (type, feature width, LM width) = {saved}; this model needs {wanted}.")
    model.projector.load_state_dict(load_file(str(folder / "projector.safetensors")))
    return model

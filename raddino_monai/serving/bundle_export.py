"""Write a ready-to-serve copy of an inference bundle from a trained head (linear probe, segmentation head).

A template bundle (``bundles/raddino_cxr_<task>/``: configs, docs, LICENSE) is copied to a new folder and filled in:

* ``models/model.pt``: ``{"model": state_dict}`` of the whole ``network_def`` (frozen encoder + head), tensors only,
  so ``torch.load(weights_only=True)``, MONAI's ``CheckpointLoader`` and MONAI Label load it;
* ``configs/inference.json`` (and ``train.json`` where the template has one): the top-level values that fix the
  network and preprocessing (``arch``, ``image_size``, ``num_classes``, head settings, ...);
* ``configs/metadata.json``: ``channel_def`` / ``num_channels`` of ``pred`` (class or structure names), the input
  size, the versions of this environment, and ``raddino_export`` (the encoder reference: spec, architecture, weights
  path, task);
* ``docs/README.md``: a section naming what this copy holds.

The copy is then checked as MONAI's model-zoo CI does (:func:`verify_bundle`): ``verify_metadata`` against the
vendored schema, ``verify_net_in_out network_def``, ``check_properties() == []`` per workflow, weights tensor-only,
and a round trip (the network rebuilt from the written configs + weights gives the trained network's outputs).
The output folder is written beside its final place and renamed at the end: it never overwrites anything.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import raddino_monai
from raddino_monai.evaluation.linear_probe import LinearProbeConfig
from raddino_monai.evaluation.probe_model import ProbeClassifier
from raddino_monai.evaluation.runners import load_encoder_backbone, load_segmentation_checkpoint, parse_encoder

__all__ = ["BundleExportError", "TASK_BUNDLE_ACTIVATIONS", "check_new_bundle_dir", "find_template", "tensor_state_dict",
           "export_bundle", "export_folder_bundle", "verify_bundle", "export_classification_bundle",
           "export_segmentation_bundle"]

logger = logging.getLogger(__name__)

#: linear-probe task -> the classification bundle's ``activation`` (binary: one logit -> sigmoid).
TASK_BUNDLE_ACTIVATIONS: dict[str, str] = {"binary": "sigmoid", "multiclass": "softmax", "multilabel": "sigmoid"}

#: bundle workflow -> config file it is checked with.
_WORKFLOW_CONFIGS: dict[str, str] = {"infer": "inference.json", "train": "train.json"}

_BUNDLES_DIR = Path(__file__).resolve().parents[2] / "bundles"

#: weight-file suffixes that torch / pickle would unpickle (not allowed in a model folder of a bundle)
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".pkl", ".ckpt"})


class BundleExportError(ValueError):
    """A bundle could not be written or failed a check; the message names the bundle and the check."""


def check_new_bundle_dir(path: str | Path | None) -> None:
    """Fail before a long training run when the bundle folder to write already exists (``None``: no bundle).

    Raises:
        FileExistsError: ``path`` exists (nothing is ever overwritten).
    """
    if path is not None and Path(path).exists():
        raise FileExistsError(f"bundle folder {path} already exists; choose a new --bundle_dir (nothing overwritten).")


def find_template(name: str) -> Path:
    """The repository's template bundle ``bundles/<name>`` (a source checkout or editable install).

    Raises:
        FileNotFoundError: no such folder (pass ``template=`` explicitly when the package is installed elsewhere).
    """
    path = _BUNDLES_DIR / name
    if not (path / "configs" / "metadata.json").is_file():
        raise FileNotFoundError(f"template bundle {path} not found; pass template=<path to bundles/{name}>.")
    return path


def tensor_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of every state-dict entry; raises if an entry is not a tensor (it would need unpickling)."""
    state = {}
    for key, value in module.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise BundleExportError(f"state_dict entry {key!r} is a {type(value).__name__}, expected a tensor.")
        state[key] = value.detach().cpu().clone().contiguous()
    return state


def _versions() -> dict[str, Any]:
    import ignite
    import monai
    import transformers

    return {"monai_version": monai.__version__, "pytorch_version": torch.__version__.split("+")[0],
            "numpy_version": np.__version__,
            "required_packages_version": {"raddino_monai": raddino_monai.__version__,
                                          "transformers": transformers.__version__,
                                          "pytorch-ignite": ignite.__version__}}


def _update_config(path: Path, values: Mapping[str, Any]) -> None:
    config = json.loads(path.read_text())
    missing = sorted(set(values) - set(config))
    if missing:
        raise BundleExportError(f"{path}: template has no top-level ids {missing}; found {sorted(config)}.")
    config.update(values)
    path.write_text(json.dumps(config, indent=4) + "\n")


def _update_metadata(path: Path, channel_names: Sequence[str], image_size: int, spatial_output: bool,
                     description: str, export_info: Mapping[str, Any]) -> None:
    meta = json.loads(path.read_text())
    meta.update(_versions())
    meta["description"] = description
    fmt = meta["network_data_format"]
    fmt["inputs"]["image"]["spatial_shape"] = [image_size, image_size]
    pred = fmt["outputs"]["pred"]
    pred["num_channels"] = len(channel_names)
    pred["channel_def"] = {str(i): str(n) for i, n in enumerate(channel_names)}
    if spatial_output:
        pred["spatial_shape"] = [image_size, image_size]
    meta["raddino_export"] = dict(export_info)
    path.write_text(json.dumps(meta, indent=4) + "\n")


def _parser(bundle: Path, config: str = "inference.json") -> Any:
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / config))
    parser.read_meta(str(bundle / "configs" / "metadata.json"))
    parser["bundle_root"] = str(bundle)
    return parser


def _check_round_trip(bundle: Path, network: nn.Module, image_size: int) -> None:
    state = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    rebuilt = _parser(bundle).get_parsed_content("network_def")
    try:
        rebuilt.load_state_dict(state["model"], strict=True)
    except RuntimeError as err:
        raise BundleExportError(f"{bundle}: models/model.pt does not fit the configured network_def: {err}") from err
    x = torch.rand(1, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    network = network.to("cpu").eval()
    with torch.no_grad():
        expected, found = network(x), rebuilt.eval()(x)
    if not torch.allclose(expected, found, atol=1e-5, rtol=1e-4):
        diff = float((expected - found).abs().max())
        raise BundleExportError(f"{bundle}: the rebuilt network differs from the trained one (max |diff| {diff:.3g}).")


def verify_bundle(bundle: str | Path, schema: str | Path | None = None) -> dict[str, str]:
    """Run MONAI's bundle checks on a bundle folder that holds ``models/model.pt`` or a model folder (text output).

    A bundle without ``models/model.pt`` (weights in a folder, e.g. ``models/report_model`` of the report bundle)
    has no channel tensor to check: ``verify_net_in_out`` is skipped, ``network_def`` is built once from the
    written configs instead, and no file under ``models/`` may need unpickling (safetensors / JSON only).

    Args:
        bundle: the bundle folder.
        schema: metadata JSON schema; default: the vendored ``bundles/schema/<name of the metadata's schema URL>``.

    Returns:
        check name -> ``"ok"`` or ``"skipped: <reason>"``.

    Raises:
        BundleExportError: a check failed (the message names the check and the bundle).
    """
    from monai.bundle import ConfigWorkflow, verify_metadata, verify_net_in_out
    from monai.utils import optional_import

    bundle = Path(bundle)
    configs, report = bundle / "configs", {}
    meta = json.loads((configs / "metadata.json").read_text())
    schema = Path(schema) if schema is not None else _BUNDLES_DIR / "schema" / Path(meta["schema"]).name
    if not optional_import("jsonschema")[1]:
        report["verify_metadata"] = "skipped: jsonschema is not installed"
    elif not schema.is_file():
        report["verify_metadata"] = f"skipped: schema {schema} not found (offline)"
    else:
        try:
            verify_metadata(meta_file=str(configs / "metadata.json"), filepath=str(schema))
        except Exception as err:  # MONAI raises ValueError / jsonschema errors
            raise BundleExportError(f"{bundle}: verify_metadata failed: {err}") from err
        report["verify_metadata"] = "ok"
    tensor_weights = (bundle / "models" / "model.pt").is_file()
    if tensor_weights:
        try:
            verify_net_in_out(net_id="network_def", meta_file=str(configs / "metadata.json"),
                              config_file=str(configs / "inference.json"), device="cpu", bundle_root=str(bundle))
        except Exception as err:
            raise BundleExportError(f"{bundle}: verify_net_in_out failed: {err}") from err
        report["verify_net_in_out"] = "ok"
    else:
        report["verify_net_in_out"] = "skipped: no models/model.pt (the output is not a channel tensor)"
        try:
            _parser(bundle).get_parsed_content("network_def")
        except Exception as err:
            raise BundleExportError(f"{bundle}: network_def cannot be built from the written configs: {err}") from err
        report["network_def"] = "ok"
    for workflow, name in _WORKFLOW_CONFIGS.items():
        if not (configs / name).is_file():
            continue
        wf = ConfigWorkflow(workflow_type=workflow, config_file=str(configs / name),
                            meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                            bundle_root=str(bundle))
        wf.initialize()
        try:
            missing = wf.check_properties()
        except KeyError as err:  # MONAI raises KeyError for a missing required id
            missing = [str(err)]
        if missing:
            raise BundleExportError(f"{bundle}: {name} lacks the {workflow} properties {missing}.")
        report[f"check_properties/{workflow}"] = "ok"
    if tensor_weights:
        state = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
        if set(state) != {"model"}:
            raise BundleExportError(f"{bundle}: models/model.pt keys {sorted(state)}; expected ['model'].")
    else:
        pickled = sorted(str(p.relative_to(bundle)) for p in (bundle / "models").rglob("*")
                         if p.suffix in PICKLE_SUFFIXES)
        if pickled:
            raise BundleExportError(f"{bundle}: {pickled} would need unpickling; expected safetensors only.")
    report["weights_only"] = "ok"
    return report


def export_bundle(
    template: str | Path,
    output_dir: str | Path,
    network: nn.Module,
    config_values: Mapping[str, Any],
    channel_names: Sequence[str],
    image_size: int,
    description: str,
    export_info: Mapping[str, Any],
    spatial_output: bool = False,
    train_values: Mapping[str, Any] | None = None,
    schema: str | Path | None = None,
) -> Path:
    """Copy ``template`` to ``output_dir`` with ``network``'s weights and settings, then verify it.

    Args:
        template: template bundle folder (configs, docs, LICENSE).
        output_dir: the new bundle folder; must not exist (nothing is overwritten).
        network: the trained ``network_def`` instance (its full state dict is saved).
        config_values: top-level ids of the template's ``inference.json`` / ``train.json`` to set; every id must
            exist in ``inference.json``, and is set in ``train.json`` where that file has it.
        channel_names: names of the output channels (``pred.channel_def``), in channel order.
        image_size: network input side S (``inputs.image.spatial_shape = [S, S]``).
        description: ``metadata.json`` description.
        export_info: provenance written to ``metadata.json`` as ``raddino_export`` (encoder reference, task, ...).
        spatial_output: the output is an image (segmentation): ``pred.spatial_shape = [S, S]``.
        train_values: ids set in ``train.json`` only (each must exist there).
        schema: metadata schema for :func:`verify_bundle`.

    Returns:
        ``output_dir``.

    Raises:
        FileExistsError: ``output_dir`` exists.
        BundleExportError: a template id is missing, or a check failed (the partial copy is removed).

    Example::

        >>> export_bundle(find_template("raddino_cxr_classification"), "bundles_out/cls", net,
        ...               {"arch": "raddino_vitb14", "num_classes": 3}, ["a", "b", "c"], 518, "...", {})  # doctest: +SKIP
    """
    template, out = Path(template), Path(output_dir)
    check_new_bundle_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        bundle = staging / out.name
        shutil.copytree(template, bundle, ignore=shutil.ignore_patterns("models", "eval", "data", "runs", "*.pyc"))
        (bundle / "models").mkdir()
        torch.save({"model": tensor_state_dict(network)}, bundle / "models" / "model.pt")
        configs = bundle / "configs"
        inference_ids = set(json.loads((configs / "inference.json").read_text()))
        missing = sorted(set(config_values) - inference_ids)
        if missing:
            raise BundleExportError(f"{template}: inference.json has no top-level ids {missing}.")
        _update_config(configs / "inference.json", config_values)
        if (configs / "train.json").is_file():
            train_ids = set(json.loads((configs / "train.json").read_text()))
            shared = {k: v for k, v in config_values.items() if k in train_ids}
            _update_config(configs / "train.json", {**shared, **dict(train_values or {})})
        elif train_values:
            raise BundleExportError(f"{template}: train_values given but the template has no configs/train.json.")
        _update_metadata(configs / "metadata.json", channel_names, image_size, spatial_output, description,
                         export_info)
        _append_readme(bundle / "docs" / "README.md", channel_names, export_info)
        _check_round_trip(bundle, network, image_size)
        report = verify_bundle(bundle, schema)
        logger.info("bundle %s checks: %s", out, report)
        os.replace(bundle, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def export_folder_bundle(
    template: str | Path,
    output_dir: str | Path,
    model_folder: str | Path,
    folder_name: str,
    image_size: int,
    description: str,
    export_info: Mapping[str, Any],
    schema: str | Path | None = None,
) -> Path:
    """Copy ``template`` to ``output_dir`` with a trained model *folder* as ``models/<folder_name>``, then verify it.

    For bundles whose network is built from a folder of configs and safetensors rather than ``models/model.pt``:
    the report bundle (``models/report_model``, written by ``tools/report.py train``). ``metadata.json`` gets the
    input size, the versions of this environment, ``description`` and ``raddino_export``; ``pred`` is kept as the
    template declares it.

    Args:
        template: template bundle folder (configs, docs, LICENSE).
        output_dir: the new bundle folder; must not exist (nothing is overwritten).
        model_folder: the trained model folder (copied whole).
        folder_name: its name under ``models/`` (what the template's ``inference.json`` reads).
        image_size: network input side S (``inputs.image.spatial_shape = [S, S]``).
        description: ``metadata.json`` description.
        export_info: provenance written to ``metadata.json`` as ``raddino_export``.
        schema: metadata schema for :func:`verify_bundle`.

    Returns:
        ``output_dir``.

    Raises:
        FileExistsError: ``output_dir`` exists.
        FileNotFoundError: ``model_folder`` is not a folder.
        BundleExportError: a check failed (the partial copy is removed).
    """
    template, out, source = Path(template), Path(output_dir), Path(model_folder)
    check_new_bundle_dir(out)
    if not source.is_dir():
        raise FileNotFoundError(f"model folder {source} not found.")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        bundle = staging / out.name
        shutil.copytree(template, bundle, ignore=shutil.ignore_patterns("models", "eval", "data", "runs", "*.pyc"))
        shutil.copytree(source, bundle / "models" / folder_name)
        path = bundle / "configs" / "metadata.json"
        meta = json.loads(path.read_text())
        meta.update(_versions())
        meta["description"] = description
        meta["network_data_format"]["inputs"]["image"]["spatial_shape"] = [image_size, image_size]
        meta["raddino_export"] = dict(export_info)
        path.write_text(json.dumps(meta, indent=4) + "\n")
        readme = bundle / "docs" / "README.md"
        lines = ["", "## This copy", "", f"Written by `raddino_monai.serving.bundle_export`; `models/{folder_name}/` "
                 "holds the trained model (safetensors + JSON).", ""]
        lines += [f"- {key}: `{value}`" for key, value in export_info.items()]
        readme.write_text(readme.read_text().rstrip("\n") + "\n" + "\n".join(lines) + "\n")
        report = verify_bundle(bundle, schema)
        logger.info("bundle %s checks: %s", out, report)
        os.replace(bundle, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _append_readme(path: Path, channel_names: Sequence[str], export_info: Mapping[str, Any]) -> None:
    lines = ["", "## This copy", "",
             "Written by `raddino_monai.serving.bundle_export`; `models/model.pt` holds the trained weights "
             "(`{\"model\": state_dict}`, tensors only).", "",
             f"- output channels: {', '.join(f'{i} = {n}' for i, n in enumerate(channel_names))}"]
    lines += [f"- {key}: `{value}`" for key, value in export_info.items()]
    path.write_text(path.read_text().rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def export_classification_bundle(
    head: nn.Linear,
    encoder: str,
    config: LinearProbeConfig,
    output_names: Sequence[str],
    output_dir: str | Path,
    template: str | Path | None = None,
) -> Path:
    """A ``raddino_cxr_classification`` bundle from a trained linear probe.

    Args:
        head: the trained linear layer (``(F,) -> (K,)``, F = pooled feature size of ``config.pooling``).
        encoder: encoder spec ``arch[:weights]`` the head was trained on (the frozen encoder is rebuilt from it).
        config: the probe settings (task, pooling, n_last_blocks, image_size, fit).
        output_names: names of the K outputs (``run_linear_probe(...)["score_names"]``).
        output_dir: new bundle folder.
        template: template bundle; default ``bundles/raddino_cxr_classification``.

    Returns:
        ``output_dir``.
    """
    _, arch, weights = parse_encoder(encoder)
    network = ProbeClassifier(load_encoder_backbone(encoder), head.out_features, config.pooling, config.n_last_blocks)
    network.head.load_state_dict(head.state_dict())
    values = {"arch": arch, "image_size": config.image_size, "num_classes": head.out_features,
              "pooling": config.pooling, "n_last_blocks": config.n_last_blocks, "fit": config.fit,
              "activation": TASK_BUNDLE_ACTIVATIONS[config.task]}
    info = {"encoder": encoder, "arch": arch, "encoder_weights": weights, "task": config.task,
            "pooling": config.pooling, "trained_with": "tools/linear_probe.py"}
    description = (f"Frozen {arch} encoder ({encoder}) + linear probe ({config.task}, {config.pooling} pooling) "
                   f"over {len(output_names)} outputs; pred = {TASK_BUNDLE_ACTIVATIONS[config.task]} scores.")
    return export_bundle(template or find_template("raddino_cxr_classification"), output_dir, network, values,
                         output_names, config.image_size, description, info)


def export_segmentation_bundle(
    checkpoint: str | Path, output_dir: str | Path, template: str | Path | None = None
) -> Path:
    """A ``raddino_cxr_segmentation`` bundle (inference + MONAI Label train config) from a ``tools/segment.py``
    checkpoint (``model.pt`` + ``model.json``).

    Raises:
        BundleExportError: a multilabel head (MONAI Label label maps hold one class per pixel), or a failed check.
    """
    model, config, encoder = load_segmentation_checkpoint(checkpoint)
    if config.mask_mode != "multiclass":
        raise BundleExportError(f"{checkpoint}: mask_mode={config.mask_mode!r}; the segmentation bundle serves "
                                "'multiclass' heads (one label per pixel, background first).")
    _, arch, weights = parse_encoder(encoder)
    values = {"arch": arch, "image_size": config.image_size, "num_classes": config.num_classes, "fit": config.fit,
              "head": config.head, "layer_indices": list(model.layer_indices), "head_kwargs": dict(config.head_kwargs)}
    info = {"encoder": encoder, "arch": arch, "encoder_weights": weights, "head": config.head,
            "checkpoint": str(checkpoint), "trained_with": "tools/segment.py train"}
    description = (f"Frozen {arch} encoder ({encoder}) + {config.head} head, blocks {list(model.layer_indices)}; "
                   f"pred = softmax over {config.class_names}; masks are returned at the input size.")
    return export_bundle(template or find_template("raddino_cxr_segmentation"), output_dir, model, values,
                         list(config.class_names or []), config.image_size, description, info, spatial_output=True,
                         train_values={"mask_mode": config.mask_mode, "horizontal_flip": config.horizontal_flip})

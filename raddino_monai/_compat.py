"""Deprecated import paths: one table of old location -> new location, served by module ``__getattr__`` hooks.

Modules and names that moved keep working from their old location for a deprecation period: the old module is a
thin file whose ``__getattr__`` is :func:`moved_names`, which imports the new location lazily (so no import-time
work and no import that runs up the package layers) and emits a ``DeprecationWarning`` naming it.

Example::

    >>> from raddino_monai.ssl.masking import sample_ibot_masks  # doctest: +SKIP
    DeprecationWarning: raddino_monai.ssl.masking.sample_ibot_masks moved to raddino_monai.data.masking.sample_ibot_masks
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

__all__ = ["MOVED", "moved_names", "resolve_moved"]

#: ``"old.module.Name"`` -> ``"new.module.Name"`` for every public name that moved in the 0.2 layout (issue 11).
MOVED: dict[str, str] = {
    # batch assembly: masking, collate and sampling live in data/ (dinov2/data layout)
    **{f"raddino_monai.ssl.masking.{n}": f"raddino_monai.data.masking.{n}" for n in (
        "MaskingGenerator", "IBOTMasks", "sample_ibot_masks", "masks_weight_from_masks", "dinov2_max_num_patches",
        "NumpyRNG")},
    **{f"raddino_monai.ssl.{n}": f"raddino_monai.data.masking.{n}" for n in (
        "MaskingGenerator", "IBOTMasks", "sample_ibot_masks", "masks_weight_from_masks", "dinov2_max_num_patches")},
    **{f"raddino_monai.engines.data_order.{n}": f"raddino_monai.data.samplers.{n}" for n in (
        "ResumableDistributedSampler", "SeededDataset", "derive_seed", "SEED_KEY")},
    **{f"raddino_monai.engines.{n}": f"raddino_monai.data.samplers.{n}" for n in (
        "ResumableDistributedSampler", "SeededDataset", "derive_seed", "SEED_KEY")},
    # experiments (pretrain-then-probe) left the engine package
    **{f"raddino_monai.engines.evidence.{n}": f"raddino_monai.experiments.ssl_evidence.{n}" for n in (
        "VIEW_GROUPS", "PROBES", "CURVE_KEYS", "pretrain_tiny", "probe_items", "probe_encoders", "ssl_evidence",
        "format_evidence", "combine_seeds", "format_combined")},
    **{f"raddino_monai.engines.evidence_summary.{n}": f"raddino_monai.experiments.evidence_summary.{n}" for n in (
        "METRICS", "sign_test_p", "format_evidence", "combine_seeds", "format_combined")},
    **{f"raddino_monai.engines.evidence_plots.{n}": f"raddino_monai.experiments.evidence_plots.{n}" for n in (
        "plot_probes", "plot_probe_curve")},
    # MONAI mask transforms belong with the other transforms
    **{f"raddino_monai.evaluation.masks.{n}": f"raddino_monai.transforms.masks.{n}" for n in (
        "MASK_MODES", "PALETTE", "read_mask_file", "LoadMask", "LoadMaskd", "write_mask_png", "write_mask_nifti",
        "write_overlay_png", "SaveMaskd")},
    **{f"raddino_monai.evaluation.{n}": f"raddino_monai.transforms.masks.{n}" for n in (
        "LoadMask", "LoadMaskd", "SaveMaskd")},
    # DINO head weight I/O sits with the other weight I/O
    **{f"raddino_monai.models.dino_head.{n}": f"raddino_monai.models.weights.head_file.{n}" for n in (
        "load_dino_head", "dino_head_state_dict_to_released", "dino_head_state_dict_from_released")},
    # names that explain themselves: evaluate_* = library function on items in memory, *_job = runner on files
    "raddino_monai.evaluation.run_linear_probe": "raddino_monai.evaluation.linear_probe.evaluate_linear_probe",
    "raddino_monai.evaluation.linear_probe.run_linear_probe":
        "raddino_monai.evaluation.linear_probe.evaluate_linear_probe",
    "raddino_monai.evaluation.run_metadata_probe": "raddino_monai.evaluation.metadata_probe.evaluate_metadata_probe",
    "raddino_monai.evaluation.metadata_probe.run_metadata_probe":
        "raddino_monai.evaluation.metadata_probe.evaluate_metadata_probe",
    **{f"raddino_monai.evaluation.runners.{old}": f"raddino_monai.evaluation.runners.{new}" for old, new in (
        ("linear_probe_run", "linear_probe_job"), ("metadata_probe_run", "metadata_probe_job"),
        ("segment_train_run", "segment_train_job"), ("segment_evaluate_run", "segment_evaluate_job"),
        ("segment_predict_run", "segment_predict_job"))},
    "raddino_monai.evaluation.probe_model.init_linear": "raddino_monai.evaluation.linear_probe.init_linear",
    **{f"raddino_monai.data.sample.{n}": f"raddino_monai.data.sample_data.{n}" for n in (
        "SAMPLE_DICOMS", "sample_data_dir", "sample_datalist_path", "sample_dicom_paths", "load_sample_datalist")},
    "raddino_monai.losses.centering.TeacherTargetLoss": "raddino_monai.losses.teacher_target.TeacherTargetLoss",
    # one sentence splitter, in the lowest layer (labeler, truncation and ConVIRT share it)
    "raddino_monai.data.report_text.split_sentences": "raddino_monai.transforms.text.split_sentences",
    # the ECAMP network pieces moved into their own subpackage (models/ecamp/, like models/convirt/)
    **{f"raddino_monai.models.{module}.{n}": f"raddino_monai.models.ecamp.{module}.{n}" for module, names in (
        ("mae_masking", ("PatchMasking", "random_masking", "encode_visible", "patchify", "unpatchify")),
        ("mae_decoder", ("ViTBlock", "MAEDecoder", "mae_init_")),
        ("sr_head", ("InterpolateConvSR", "box_region_map")),
        ("context_fusion", ("ImageCrossAttention", "ContextFusionLayer", "additive_padding_mask")),
        ("report_decoder", ("ecamp_bert_config", "ReportDecoder", "build_report_decoder", "ECAMP_BERT_DEFAULTS")),
    ) for n in names},
}


def resolve_moved(old: str) -> object:
    """The object now at ``MOVED[old]``, with a ``DeprecationWarning`` naming the new location.

    Raises:
        KeyError: ``old`` is not a moved name.
    """
    new = MOVED[old]
    warnings.warn(f"{old} moved to {new}; import it from there (the old path will be removed).",
                  DeprecationWarning, stacklevel=3)
    module, _, name = new.rpartition(".")
    return getattr(importlib.import_module(module), name)


def moved_names(module: str) -> Callable[[str], object]:
    """A module ``__getattr__`` serving the names of :data:`MOVED` that left ``module``.

    Args:
        module: the old module's ``__name__``.

    Returns:
        ``__getattr__(name)``: the moved object (with a ``DeprecationWarning``), else ``AttributeError``.
    """

    def __getattr__(name: str) -> object:
        key = f"{module}.{name}"
        if key in MOVED:
            return resolve_moved(key)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

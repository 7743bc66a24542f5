"""Image-only SSL vs language-supervised pretraining, side by side on the user's data (issue 14 item 7).

    python tools/compare_pretraining.py --datalist DATALIST.json --output_dir runs/compare \\
        --methods "[random,ssl,convirt]" --encoder tiny_vit_p16 --steps 300 --seeds "[0,1,2]"

For every seed :func:`compare_pretraining`

1. cuts the datalist by patient into a pretraining part and a held-out evaluation part
   (:func:`~raddino_monai.experiments.heldout.heldout_split`; ``patient_key`` names the patient column, items without
   one fall back to their image id with a logged warning): no method ever sees an evaluated image;
2. pretrains every method (:data:`~raddino_monai.experiments.pretraining_methods.PRETRAINING_METHODS` or callables)
   on the pretraining part with the same :class:`~raddino_monai.experiments.pretraining_methods.PretrainBudget`
   (optimizer steps, batch, input side, wall-clock cap) and the same backbone spec;
3. runs the same frozen evaluations on the held-out part
   (:func:`~raddino_monai.experiments.frozen_evaluations.evaluate_frozen`: linear probe AUPRC / AUROC, metadata
   probes, segmentation Dice when masks exist, retrieval Precision@k), with probe splits and folds drawn from the
   seed, so the methods of one seed are paired.

It writes ``records.csv`` (one value per method, seed and metric), ``summary.csv``, ``results.md`` (budget table +
mean ± std over seeds + paired difference to ``reference`` with the sign test, :mod:`.compare_summary`),
``results.png`` (bars, seeds as dots), ``results.json`` and ``config.json``; per seed and method
``seed_<s>/<method>/`` holds the exported encoder (``encoder_hf/``), TensorBoard logs, ``encoder.json`` and
``evaluation.json`` (its records). An interrupted comparison rerun on the same folder reuses finished methods (their
``encoder.json``) and finished evaluations (their ``evaluation.json``, when written with the same evaluation
settings, seed and held-out images), so a rerun with fewer or more seeds costs only what is new; it never overwrites
a finished comparison's results.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from raddino_monai.data.datalist import load_datalist
from raddino_monai.evaluation.tables import write_csv
from raddino_monai.experiments.compare_summary import budget_table, markdown_summary, summarise_methods
from raddino_monai.experiments.evidence_plots import plot_comparison
from raddino_monai.experiments.frozen_evaluations import FrozenEvalConfig, evaluate_frozen
from raddino_monai.experiments.heldout import GROUP_KEY, check_patient_disjoint, heldout_split
from raddino_monai.experiments.pretraining_methods import (
    PretrainBudget,
    PretrainedEncoder,
    PretrainMethod,
    budget_dict,
    get_method,
    load_pretrained,
    save_pretrained,
    timed,
)

__all__ = ["CompareConfig", "compare_pretraining", "RESULT_FILES"]

logger = logging.getLogger(__name__)

#: files a finished comparison writes into ``output_dir`` (a rerun refuses to overwrite them)
RESULT_FILES: tuple[str, ...] = ("records.csv", "summary.csv", "results.md", "results.png", "results.json")


@dataclasses.dataclass
class CompareConfig:
    """What is compared and how the data is cut; the budget and the evaluations have their own dataclasses."""

    methods: tuple[str, ...] = ("random", "ssl")  # keys of PRETRAINING_METHODS, in table order
    encoder: str = "tiny_vit_p16"  # backbone spec of every method: "arch" (from scratch) or "arch:weights"
    reference: str = "ssl"  # paired differences are reference − method (RAD-DINO's image-only SSL)
    seeds: tuple[int, ...] = (0,)  # each seed: patient split, pretraining, probe splits / folds / heads
    eval_fraction: float = 0.5  # share of patients held out from pretraining and evaluated (ours)
    patient_key: str = "patient_id"  # item key of the patient id (missing -> image id, with a warning)
    method_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # e.g. {"ssl": {"recipe": ..}}

    def __post_init__(self) -> None:
        self.methods = tuple(self.methods)
        self.seeds = tuple(int(s) for s in self.seeds)
        if len(set(self.methods)) != len(self.methods) or not self.methods:
            raise ValueError(f"CompareConfig.methods must be a non-empty list without repeats, found {self.methods}.")
        if self.reference not in self.methods:
            raise ValueError(f"CompareConfig.reference={self.reference!r} is not compared; valid values are "
                             f"{list(self.methods)}.")
        unknown = sorted(set(self.method_options) - set(self.methods))
        if unknown:
            raise ValueError(f"method_options for {unknown}, which are not compared; methods: {list(self.methods)}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings."""
        return dataclasses.asdict(self)


def _refuse_finished(out: Path) -> None:
    existing = [name for name in RESULT_FILES if (out / name).exists()]
    if existing:
        raise FileExistsError(f"{out} already holds the results of a finished comparison ({existing}); choose a new "
                              "output_dir (results are never overwritten).")


def _pretrained(method: PretrainMethod, name: str, items: list[dict[str, Any]], config: CompareConfig,
                budget: PretrainBudget, run: Path, seed: int) -> PretrainedEncoder:
    """The method's encoder for this seed: reused when ``encoder.json`` exists (an interrupted rerun)."""
    marker = run / "encoder.json"
    if marker.is_file():
        logger.info("seed %d, %s: reusing the finished pretraining in %s", seed, name, run)
        return load_pretrained(marker)
    run.mkdir(parents=True, exist_ok=True)
    encoder = timed(method, items, config.encoder, budget, run, seed)
    done = encoder.stats.get("iterations")
    if done is not None and 0 < done < budget.steps:
        logger.warning("seed %d, %s: stopped after %d of %d steps (max_minutes=%g): it saw fewer images than the "
                       "budget", seed, name, int(done), budget.steps, budget.max_minutes)
    save_pretrained(encoder, marker)
    return encoder


def _evaluated(encoder: PretrainedEncoder, name: str, held_out: list[dict[str, Any]], evaluation: FrozenEvalConfig,
               run: Path, seed: int) -> tuple[list[dict[str, Any]], dict[str, str], float]:
    """``(records, skipped, seconds)`` of the frozen evaluations of one method and seed: reused from
    ``evaluation.json`` when it was written with the same settings, seed and held-out images (an interrupted rerun)."""
    marker = run / "evaluation.json"
    key = {"evaluation": evaluation.to_dict(), "seed": seed, "images": sorted(str(it["image"]) for it in held_out)}
    if marker.is_file():
        saved = json.loads(marker.read_text())
        if saved.get("key") == json.loads(json.dumps(key, default=str)):
            logger.info("seed %d, %s: reusing the finished evaluation in %s", seed, name, marker)
            return saved["records"], saved["skipped"], float(saved["seconds"])
        logger.info("seed %d, %s: %s was written with other settings; evaluating again", seed, name, marker)
    start = time.perf_counter()
    rows, skipped = evaluate_frozen(encoder, held_out, evaluation, seed, run)
    seconds = time.perf_counter() - start
    marker.write_text(json.dumps({"key": key, "records": rows, "skipped": skipped, "seconds": seconds}, indent=1,
                                 default=str) + "\n")
    return rows, skipped, seconds


def compare_pretraining(
    datalist: str | Path | Sequence[Mapping[str, Any]],
    output_dir: str | Path,
    config: CompareConfig | None = None,
    budget: PretrainBudget | None = None,
    evaluation: FrozenEvalConfig | None = None,
    methods: Mapping[str, PretrainMethod] | None = None,
) -> dict[str, Any]:
    """Pretrain every method with one budget, evaluate each on held-out patients, write the comparison.

    Args:
        datalist: JSON/CSV datalist (or its items): ``image``; ``patient_id`` (or ``config.patient_key``); for the
            evaluations ``label``, ``sex`` / ``view`` / ``view_group`` / ``age``, ``mask``; ``report`` for the
            language-supervised methods.
        output_dir: results folder (see the module docstring).
        config: methods, backbone, reference, seeds, split.
        budget: the compute every method gets.
        evaluation: frozen-evaluation settings.
        methods: extra ``name -> callable`` methods (override registry names), e.g. a user's own baseline.

    Returns:
        ``{"config", "budget", "evaluation", "splits": {seed: counts}, "pretraining": {method: {seed: stats}},
        "records", "skipped": {seed: {method: {evaluation: reason}}}, "summary", "files"}``.

    Raises:
        ValueError: unknown method names (valid ones listed), a bad split, or a method error.
        FileExistsError: ``output_dir`` holds a finished comparison.
    """
    config, budget, evaluation = config or CompareConfig(), budget or PretrainBudget(), evaluation or FrozenEvalConfig()
    extra = dict(methods or {})  # unknown names fail here, before any pretraining (valid names listed)
    callables = {name: extra[name] if name in extra else get_method(name, config.method_options.get(name))
                 for name in config.methods}
    out = Path(output_dir)
    _refuse_finished(out)
    out.mkdir(parents=True, exist_ok=True)
    items = load_datalist(datalist) if isinstance(datalist, (str, Path)) else [dict(it) for it in datalist]
    settings = {"datalist": str(datalist) if isinstance(datalist, (str, Path)) else f"{len(items)} items",
                "config": config.to_dict(), "budget": budget_dict(budget), "evaluation": evaluation.to_dict(),
                "held_out_patients": True}
    (out / "config.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")
    records: list[dict[str, Any]] = []
    results: dict[str, Any] = {**settings, "splits": {}, "pretraining": {m: {} for m in config.methods},
                               "skipped": {}, "evaluation_seconds": {m: {} for m in config.methods}}
    for seed in config.seeds:
        pretrain, held_out = heldout_split(items, config.eval_fraction, seed, config.patient_key)
        check_patient_disjoint(pretrain, held_out)
        results["splits"][seed] = {
            "pretrain_images": len(pretrain), "pretrain_patients": len({it[GROUP_KEY] for it in pretrain}),
            "eval_images": len(held_out), "eval_patients": len({it[GROUP_KEY] for it in held_out}),
        }
        (out / f"seed_{seed}").mkdir(exist_ok=True)
        (out / f"seed_{seed}" / "split.json").write_text(json.dumps(
            {"pretrain": [str(it["image"]) for it in pretrain], "evaluation": [str(it["image"]) for it in held_out]},
            indent=1) + "\n")
        results["skipped"][seed] = {}
        for name, method in callables.items():
            encoder = _pretrained(method, name, pretrain, config, budget, out / f"seed_{seed}" / name, seed)
            results["pretraining"][name][seed] = encoder.stats
            rows, skipped, seconds = _evaluated(encoder, name, held_out, evaluation, out / f"seed_{seed}" / name, seed)
            results["evaluation_seconds"][name][seed] = seconds
            records += [{"method": name, "seed": seed, **row} for row in rows]
            results["skipped"][seed][name] = skipped
            logger.info("seed %d, %s: %d evaluation values, skipped %s", seed, name, len(rows), sorted(skipped))
    summary = summarise_methods(records, config.methods, config.seeds, config.reference)
    results.update(records=records, summary=summary)
    files = {"records": write_csv(records, out / "records.csv"),
             "summary": write_csv(_summary_csv(summary, config.methods), out / "summary.csv"),
             "markdown": out / "results.md", "png": out / "results.png", "json": out / "results.json"}
    files["markdown"].write_text(_markdown(results, summary, config) + "\n")
    plot_comparison(summary, config.methods, files["png"])
    results["files"] = {k: str(v) for k, v in files.items()}
    files["json"].write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


def _summary_csv(summary: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for row in summary:
        flat: dict[str, Any] = {"evaluation": row["row"], "n_seeds": row["n_seeds"]}
        for m in methods:
            flat[f"{m}_mean"], flat[f"{m}_std"] = row[m]["mean"], row[m]["std"]
        for m, p in row["paired"].items():
            flat.update({f"diff_{m}_mean": p["diff_mean"], f"diff_{m}_std": p["diff_std"], f"wins_vs_{m}": p["wins"],
                         f"sign_p_vs_{m}": p["sign_p"]})
        rows.append(flat)
    return rows


def _markdown(results: Mapping[str, Any], summary: Sequence[Mapping[str, Any]], config: CompareConfig) -> str:
    splits = "; ".join(f"seed {s}: pretraining {c['pretrain_images']} images / {c['pretrain_patients']} patients, "
                       f"evaluation {c['eval_images']} images / {c['eval_patients']} patients"
                       for s, c in results["splits"].items())
    skipped = sorted({f"{k}: {v}" for per_seed in results["skipped"].values() for per_method in per_seed.values()
                      for k, v in per_method.items()})
    lines = [
        f"# Pretraining comparison: {', '.join(config.methods)} ({config.encoder})",
        "",
        f"Held-out patients: every evaluation uses only patients no method pretrained on ({splits}).",
        "",
        "## Budget",
        "",
        budget_table(results["pretraining"], results["budget"]),
        "",
        f"## Frozen evaluations (mean ± std over seeds {list(config.seeds)}; paired: {config.reference} − method)",
        "",
        markdown_summary(summary, config.methods, config.reference),
    ]
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped)]
    return "\n".join(lines)

"""Run report: every scalar a pretraining run logged to TensorBoard, as one PNG of panels.

    python tools/plot_run.py runs/raddino          # -> runs/raddino/run_report.png

Panels come from :data:`PANELS`, an ordered table of tag patterns: the first pattern that matches a tag decides its
panel (title, axis label, log scale, smoothing, a reference line such as ln K for the teacher entropy). The last
pattern matches anything, so a method that logs other tags (ConVIRT's contrastive loss and temperature, ECAMP's
terms) gets one panel per tag without code changes; a method that wants nicer titles adds rows to the table.
Tags written by :class:`~raddino_monai.engines.handlers.SSLTensorBoardHandler`: ``loss/*`` (total and weighted
terms), ``monitor/teacher_entropy`` (+ ``monitor/teacher_entropy_uniform`` = ln K), ``monitor/koleo_raw``,
``schedule/{lr, weight_decay, momentum, teacher_temp, last_layer_lr}``, ``grad_norm/*``,
``throughput/{images_per_s, data_wait_share}``.

Every folder under the run directory that holds event files is one run (one line per run in each panel). A resumed
run repeats the iterations after its last checkpoint; the value written last is kept for each iteration.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raddino_monai.visualize.figure import agg_pyplot, save_figure

__all__ = ["PanelSpec", "PANELS", "Series", "read_scalars", "assign_panels", "smooth", "plot_run"]

#: entropy of uniform DINO targets, ln K, as logged by SSLTensorBoardHandler(n_prototypes=K)
UNIFORM_ENTROPY_TAG = "monitor/teacher_entropy_uniform"


@dataclass(frozen=True)
class PanelSpec:
    """How tags matching ``pattern`` are drawn.

    Args:
        pattern: ``fnmatch`` pattern on the tag (``"loss/*"``).
        title: panel title; ``{tag}`` and ``{name}`` (the part after the last ``/``) are filled in.
        ylabel: y-axis label (same placeholders).
        group: all matching tags share one panel (one line each) instead of one panel per tag.
        log_y: logarithmic y axis (used when the values span more than a factor of 20).
        smooth: draw an exponential moving average over the raw values (noisy quantities, not schedules).
        reference: tag of a constant drawn as a dashed line (not drawn as a panel of its own).
        reference_label: legend text of that line.
    """

    pattern: str
    title: str
    ylabel: str
    group: bool = False
    log_y: bool = False
    smooth: bool = True
    reference: str | None = None
    reference_label: str = ""


#: the panel table, first match wins; the last row catches every other tag.
PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("loss/loss", "total loss", "loss"),
    PanelSpec("loss/*", "loss term: {name} (weighted)", "loss"),
    PanelSpec("monitor/teacher_entropy", "DINO teacher entropy (0 = one prototype)", "entropy (nats)",
              reference=UNIFORM_ENTROPY_TAG, reference_label="ln K = uniform targets (collapse)"),
    PanelSpec("monitor/koleo_raw", "KoLeo (unweighted; high = CLS crowded)", "KoLeo"),
    PanelSpec("schedule/*lr", "learning rate", "lr", group=True, smooth=False),
    PanelSpec("schedule/weight_decay", "weight decay", "weight decay", smooth=False),
    PanelSpec("schedule/momentum", "teacher EMA momentum", "momentum", smooth=False),
    PanelSpec("schedule/teacher_temp", "teacher temperature", "temperature", smooth=False),
    PanelSpec("schedule/*", "schedule: {name}", "{name}", smooth=False),
    PanelSpec("grad_norm/*", "gradient norm before clipping", "L2 norm", group=True, log_y=True),
    PanelSpec("throughput/images_per_s", "throughput (this rank, mean since warm-up)", "images / s", smooth=False),
    PanelSpec("throughput/data_wait_share", "share of time waiting for data (mean since warm-up)", "share",
              smooth=False),
    PanelSpec("*", "{tag}", "{name}"),
)


@dataclass
class Series:
    """One scalar tag of one run: iterations, values and wall-clock times (seconds since the epoch)."""

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray


def _event_dirs(run_dir: Path) -> list[Path]:
    return sorted({p.parent for p in run_dir.rglob("events.out.tfevents.*") if p.is_file()})


def read_scalars(run_dir: str | Path) -> dict[str, dict[str, Series]]:
    """All scalar tags of every event folder under ``run_dir``.

    Args:
        run_dir: a run's output folder (e.g. a bundle ``output_dir``) or its TensorBoard folder.

    Returns:
        ``{run label: {tag: Series}}``; the label is the event folder relative to ``run_dir`` (``"."`` for itself).
        Steps are sorted; for a step written twice (a resumed run) the later write is kept.

    Raises:
        FileNotFoundError: ``run_dir`` does not exist or holds no ``events.out.tfevents.*`` file.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory {root} does not exist.")
    folders = _event_dirs(root)
    if not folders:
        raise FileNotFoundError(f"no TensorBoard event files (events.out.tfevents.*) under {root}.")
    runs: dict[str, dict[str, Series]] = {}
    for folder in folders:
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
        tags: dict[str, Series] = {}
        for tag in events.Tags().get("scalars", []):
            latest: dict[int, tuple[float, float]] = {}
            for event in sorted(events.Scalars(tag), key=lambda e: e.wall_time):
                latest[int(event.step)] = (float(event.value), float(event.wall_time))
            steps = np.array(sorted(latest), dtype=np.int64)
            tags[tag] = Series(steps, np.array([latest[s][0] for s in steps]), np.array([latest[s][1] for s in steps]))
        runs[folder.relative_to(root).as_posix()] = tags
    return runs


def assign_panels(tags: Sequence[str], panels: Sequence[PanelSpec] = PANELS) -> list[tuple[PanelSpec, list[str]]]:
    """Group tags into panels: each tag goes to the first matching spec; grouped specs give one panel.

    Reference tags of a spec that matched some tag are not drawn on their own.

    Returns:
        ``[(spec, tags of the panel)]`` in table order, tags sorted within a spec.
    """
    matched: dict[int, list[str]] = {}
    for tag in sorted(tags):
        index = next(i for i, spec in enumerate(panels) if fnmatch.fnmatchcase(tag, spec.pattern))
        matched.setdefault(index, []).append(tag)
    references = {panels[i].reference for i in matched if panels[i].reference}
    result: list[tuple[PanelSpec, list[str]]] = []
    for index in sorted(matched):
        spec, members = panels[index], [t for t in matched[index] if t not in references]
        if members:
            result += [(spec, members)] if spec.group else [(spec, [t]) for t in members]
    return result


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: exponential moving average with weight ``weight``, debiased at the start."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), found {weight}.")
    out, last = np.empty(len(values)), 0.0
    for i, v in enumerate(np.asarray(values, dtype=float)):
        last = weight * last + (1.0 - weight) * v
        out[i] = last / (1.0 - weight ** (i + 1))
    return out


def _fill(text: str, tag: str) -> str:
    return text.format(tag=tag, name=tag.rsplit("/", 1)[-1])


def _draw_panel(ax: Any, spec: PanelSpec, members: list[str], runs: Mapping[str, Mapping[str, Series]],
                smoothing: float) -> None:
    labels = []
    for run, tags in runs.items():
        for tag in members:
            if tag not in tags:
                continue
            series = tags[tag]
            label = " · ".join(x for x in (run if len(runs) > 1 else "", tag.rsplit("/", 1)[-1] if spec.group else "")
                               if x)
            if spec.smooth and len(series.values) >= 10 and smoothing > 0:
                raw = ax.plot(series.steps, series.values, alpha=0.25, linewidth=0.8)[0]
                ax.plot(series.steps, smooth(series.values, smoothing), color=raw.get_color(), linewidth=1.4,
                        label=label or None)
            else:
                ax.plot(series.steps, series.values, linewidth=1.4, marker="." if len(series.values) < 30 else None,
                        label=label or None)
            labels.append(label)
        if spec.reference and spec.reference in tags:
            ref = float(tags[spec.reference].values[-1])
            ax.axhline(ref, color="k", linestyle="--", linewidth=1.0, label=f"{spec.reference_label} ({ref:.2f})")
            labels.append(spec.reference_label)
    tag = members[0]
    last = [(runs[r][tag].values[-1], runs[r][tag].steps[-1]) for r in runs if tag in runs[r]]
    suffix = f"\nlast {last[-1][0]:.4g} at iteration {last[-1][1]}" if last and not spec.group else ""
    ax.set_title(_fill(spec.title, tag) + suffix, fontsize=8)
    ax.set_xlabel("iteration", fontsize=7)
    ax.set_ylabel(_fill(spec.ylabel, tag), fontsize=7)
    ax.tick_params(which="both", labelsize=6)
    ax.grid(alpha=0.3)
    values = np.concatenate([runs[r][t].values for r in runs for t in members if t in runs[r]])
    positive = values[values > 0]
    if spec.log_y and len(positive) and positive.max() > 20 * positive.min():  # log only when it spans > 1 decade
        ax.set_yscale("log")
    if any(labels):
        ax.legend(fontsize=6, loc="best")


def plot_run(
    run_dir: str | Path,
    out_path: str | Path | None = None,
    n_prototypes: int | None = None,
    smoothing: float = 0.6,
    columns: int = 4,
    panels: Sequence[PanelSpec] = PANELS,
) -> Path:
    """Draw every scalar of a run's TensorBoard logs into one PNG (see the module docstring).

    Args:
        run_dir: the run's output folder or TensorBoard folder.
        out_path: PNG to write; default ``<run_dir>/run_report.png``.
        n_prototypes: K of the DINO head, for the ln K line of runs that did not log
            ``monitor/teacher_entropy_uniform``.
        smoothing: TensorBoard-style smoothing weight for noisy panels (0 = raw values only).
        columns: panels per row.
        panels: the panel table.

    Returns:
        the written PNG.

    Raises:
        FileNotFoundError: no event files under ``run_dir``.
        ValueError: the event files hold no scalars, or ``n_prototypes < 2``.

    Example::

        >>> plot_run("runs/raddino_cpu_smoke")  # doctest: +SKIP
        PosixPath('runs/raddino_cpu_smoke/run_report.png')
    """
    if n_prototypes is not None and n_prototypes < 2:
        raise ValueError(f"n_prototypes must be >= 2, found {n_prototypes}.")
    runs = read_scalars(run_dir)
    all_tags = sorted({t for tags in runs.values() for t in tags})
    if not all_tags:
        raise ValueError(f"the event files under {run_dir} hold no scalars.")
    if n_prototypes is not None:
        for tags in runs.values():
            entropy = tags.get("monitor/teacher_entropy")
            if entropy is not None and UNIFORM_ENTROPY_TAG not in tags:
                tags[UNIFORM_ENTROPY_TAG] = Series(entropy.steps, np.full(len(entropy.steps), math.log(n_prototypes)),
                                                   entropy.wall_times)
        all_tags = sorted({t for tags in runs.values() for t in tags})
    layout = assign_panels(all_tags, panels)
    plt = agg_pyplot()
    rows = -(-len(layout) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 2.55 * rows), squeeze=False)
    for ax in axes.ravel()[len(layout):]:
        ax.axis("off")
    for ax, (spec, members) in zip(axes.ravel(), layout):
        _draw_panel(ax, spec, members, runs, smoothing)
    series = [s for tags in runs.values() for s in tags.values()]
    last_step = max(int(s.steps[-1]) for s in series if len(s.steps))
    minutes = (max(s.wall_times.max() for s in series) - min(s.wall_times.min() for s in series)) / 60.0
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(min(s.wall_times.min() for s in series)))
    fig.suptitle(f"run report: {Path(run_dir)} — {len(runs)} event folder(s), last iteration {last_step}, "
                 f"{minutes:.1f} min logged from {started}; faint = raw, bold = smoothed ({smoothing:g})",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save_figure(fig, out_path if out_path is not None else Path(run_dir) / "run_report.png")

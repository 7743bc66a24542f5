"""Run report on tiny synthetic TensorBoard logs: tags read back, resumed steps, generic panels, ln K line, PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from torch.utils.tensorboard import SummaryWriter

from raddino_monai.visualize.run_report import (
    PANELS,
    UNIFORM_ENTROPY_TAG,
    assign_panels,
    plot_run,
    read_scalars,
    smooth,
)

SSL_TAGS = ["loss/loss", "loss/dino", "loss/ibot", "loss/koleo", "monitor/teacher_entropy", "monitor/koleo_raw",
            "schedule/lr", "schedule/last_layer_lr", "schedule/weight_decay", "schedule/momentum",
            "schedule/teacher_temp", "grad_norm/backbone", "grad_norm/dino_head", "throughput/images_per_s",
            "throughput/data_wait_share"]


def _write_run(folder: Path, tags: list[str], steps: range, offset: float = 0.0) -> None:
    writer = SummaryWriter(log_dir=str(folder))
    for step in steps:
        for n, tag in enumerate(tags):
            writer.add_scalar(tag, offset + n + 1.0 / (1 + step), step)  # tag n: n + 1 / (1 + step)
    writer.close()


def test_read_scalars_keeps_the_last_write_of_a_resumed_step(tmp_path):
    _write_run(tmp_path / "tensorboard", ["loss/loss"], range(0, 10, 2))
    _write_run(tmp_path / "tensorboard", ["loss/loss"], range(6, 14, 2), offset=100.0)  # resumed from iteration 6
    runs = read_scalars(tmp_path)
    series = runs["tensorboard"]["loss/loss"]
    assert series.steps.tolist() == [0, 2, 4, 6, 8, 10, 12]
    assert series.values[:3] == pytest.approx([1 / 1, 1 / 3, 1 / 5])
    assert series.values[3:] == pytest.approx([100 + 1 / (1 + s) for s in (6, 8, 10, 12)])


def test_missing_or_empty_run_dirs(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_scalars(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files"):
        read_scalars(tmp_path / "empty")


def test_panels_of_the_ssl_tags_and_of_unknown_tags():
    tags = SSL_TAGS + [UNIFORM_ENTROPY_TAG, "loss/contrastive", "schedule/temperature", "custom/recall"]
    layout = assign_panels(tags)
    titles = {tuple(members): spec.title for spec, members in layout}
    assert titles[("loss/loss",)] == "total loss"
    assert ("loss/contrastive",) in titles  # a new method's loss term gets its own panel
    assert titles[("schedule/last_layer_lr", "schedule/lr")] == "learning rate"  # grouped
    assert ("schedule/temperature",) in titles and titles[("custom/recall",)] == "{tag}"
    assert titles[("grad_norm/backbone", "grad_norm/dino_head")] == "gradient norm before clipping"
    drawn = [t for _, members in layout for t in members]
    assert UNIFORM_ENTROPY_TAG not in drawn  # drawn as the reference line of the entropy panel
    assert sorted(drawn) == sorted(set(tags) - {UNIFORM_ENTROPY_TAG})
    assert PANELS[-1].pattern == "*"


def test_smoothing_is_tensorboards_debiased_ema():
    values = np.array([1.0, 3.0, 2.0, 5.0])
    weight, expected, last = 0.6, [], 0.0
    for i, v in enumerate(values):
        last = weight * last + (1 - weight) * v
        expected.append(last / (1 - weight ** (i + 1)))
    np.testing.assert_allclose(smooth(values, weight), expected)
    assert smooth(values, 0.0).tolist() == values.tolist()
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        smooth(values, 1.0)


def test_plot_run_writes_one_png_for_ssl_and_other_methods(tmp_path, check_png):
    _write_run(tmp_path / "raddino" / "tensorboard", SSL_TAGS, range(0, 40, 2))
    _write_run(tmp_path / "convirt" / "tensorboard", ["loss/loss", "loss/contrastive", "schedule/temperature"],
               range(0, 40, 2))
    out = plot_run(tmp_path, n_prototypes=256)
    assert out == tmp_path / "run_report.png"
    check_png(out, min_side=600)
    runs = read_scalars(tmp_path)
    assert set(runs) == {"raddino/tensorboard", "convirt/tensorboard"}
    single = plot_run(tmp_path / "convirt", tmp_path / "figs" / "convirt.png", columns=2)
    check_png(single)
    with pytest.raises(ValueError, match="n_prototypes"):
        plot_run(tmp_path, n_prototypes=1)


def test_ln_k_reference_from_the_log_or_the_argument(tmp_path):
    _write_run(tmp_path / "a", ["monitor/teacher_entropy"], range(3))
    writer = SummaryWriter(log_dir=str(tmp_path / "b"))
    for step in range(3):
        writer.add_scalar("monitor/teacher_entropy", 2.0, step)
        writer.add_scalar(UNIFORM_ENTROPY_TAG, math.log(64), step)
    writer.close()
    assert read_scalars(tmp_path / "b")["."][UNIFORM_ENTROPY_TAG].values[-1] == pytest.approx(math.log(64))
    assert plot_run(tmp_path / "a", n_prototypes=64).is_file()

"""Tests of raddino_monai.engines.handlers.bad_files: training skips, counts and writes bad files, and stops at the
configured maximum share before the step."""

from __future__ import annotations

import csv

import pytest
from ssl_helpers import make_file_dataset, make_trainer, record_losses

from raddino_monai.data.bad_files import TooManyBadFilesError
from raddino_monai.engines.handlers import BadFileHandler, SSLCheckpointHandler


def test_training_skips_and_counts_bad_files(tmp_path) -> None:
    dataset = make_file_dataset(tmp_path / "images", bad={3})
    handler = BadFileHandler(tmp_path / "run", dataset.dataset, max_bad_fraction=0.1)
    trainer = make_trainer(dataset=dataset, max_epochs=2, handlers=[handler])
    losses = record_losses(trainer)
    trainer.run()
    assert len(losses) == 2 * 3  # 12 images, batch 4: the epoch length is unchanged
    assert handler.log.count == 1
    rows = list(csv.DictReader(open(tmp_path / "run" / "bad_files.csv")))
    assert [r["path"] for r in rows] == [str(tmp_path / "images" / "img_003.png")]


def test_too_many_bad_files_stop_before_the_step_and_keep_checkpoints(tmp_path) -> None:
    dataset = make_file_dataset(tmp_path / "images", bad={1, 5, 9})
    ckpt = SSLCheckpointHandler(tmp_path / "run" / "ckpt", save_interval=1)
    handler = BadFileHandler(tmp_path / "run", dataset.dataset, max_bad_fraction=0.1)  # 3 / 12 > 10 %
    trainer = make_trainer(dataset=dataset, max_epochs=2, handlers=[ckpt, handler])
    losses = record_losses(trainer)
    with pytest.raises(TooManyBadFilesError) as info:
        trainer.run()
    assert "img_0" in str(info.value).splitlines()[-1] and "max_bad_fraction=0.1" in str(info.value)
    saved = sorted((tmp_path / "run" / "ckpt").glob("checkpoint_*.pt"))
    assert len(saved) == len(losses) and len(losses) < 6  # every completed step was checkpointed, none after

"""Bundle pieces: inferer (images -> one text per image), image ids, the writer handler."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events
from monai.data import MetaTensor

from raddino_monai.report import (
    EncoderReference,
    ReportInferer,
    ReportWriter,
    read_reports,
)
from raddino_monai.report.serving import image_id

from .helpers import build_model


def test_inferer_returns_one_text_per_image_as_generate(lm_folders) -> None:
    model = build_model(lm_folders("gpt2"), feature_dim=192)
    model.encoder = EncoderReference(arch="tiny_vit_p14", image_size=28).build()
    images = MetaTensor(torch.rand(2, 3, 28, 28))
    texts = ReportInferer(max_new_tokens=9)(images, model)
    assert isinstance(texts, list) and len(texts) == 2 and all(isinstance(t, str) for t in texts)
    ids = model.generate_ids(model.encode_images(images.as_tensor()), ReportInferer(max_new_tokens=9).config)
    assert ids.shape[1] <= 9  # at most max_new_tokens
    expected = [model.tokenizer.decode(row.tolist(), skip_special_tokens=True).strip() for row in ids]
    assert texts == expected
    with pytest.raises(ValueError, match="num_beams"):
        ReportInferer(num_beams=0)


def test_image_id_from_meta(tmp_path) -> None:
    item = {"image": MetaTensor(torch.zeros(1), meta={"filename_or_obj": str(tmp_path / "a" / "b.png")})}
    assert image_id(item, root=tmp_path) == "a/b.png"
    assert image_id({"image_meta_dict": {"filename_or_obj": "x.png"}, "image": torch.zeros(1)}) == "x.png"
    with pytest.raises(KeyError, match="No filename_or_obj for 'image'"):
        image_id({"image": torch.zeros(1)})


def test_writer_collects_and_writes_at_the_end(tmp_path) -> None:
    batches = [[{"image": MetaTensor(torch.zeros(1), meta={"filename_or_obj": f"/d/{i}.png"}), "pred": f"r{i}"}
                for i in (2 * b, 2 * b + 1)] for b in range(2)]
    engine = Engine(lambda e, batch: batch)
    writer = ReportWriter(tmp_path / "out" / "reports.json", root="/d")
    writer.attach(engine)
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: _check_partial(writer, e))
    engine.run(batches, max_epochs=1)
    assert read_reports(tmp_path / "out" / "reports.json") == [{"id": f"{i}.png", "report": f"r{i}"} for i in range(4)]
    assert not writer.parts_path.exists()
    with pytest.raises(FileExistsError):  # the next run checks the output before any image
        writer.start(engine)


def _check_partial(writer: ReportWriter, engine: Engine) -> None:
    assert writer.parts_path.is_file() and not writer.output_path.exists()  # only the per-batch log while running

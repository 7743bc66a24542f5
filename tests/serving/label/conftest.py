"""Fixtures of the real-server tests: tiny bundles, a studies folder, one MONAI Label server for the session.

These tests run only in the serving environment with ``RADDINO_LABEL_TESTS=1`` (``bash scripts/label_env.sh test``;
``.ci/run`` sets it). In the core environment the folder is not collected.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ENABLED = os.environ.get("RADDINO_LABEL_TESTS") == "1" and importlib.util.find_spec("monailabel") is not None
collect_ignore_glob = [] if ENABLED else ["test_*.py"]

from label_cases import CLASSES, REPORT_BUNDLE, REPORT_TEXTS, ROOT, SEG_SIZE, STUDIES, TINY_HEAD, Served


def _balanced_segmentation_checkpoint(out: Path) -> Path:
    """Tiny UPerNet checkpoint whose lung logit is shifted so about half of an image's pixels are lung: the mask then
    follows image content, and a flipped or transposed answer is detectable."""
    import torch

    from raddino_monai.evaluation import FrozenSegmentationModel, SegmentationConfig, segmentation_transforms
    from raddino_monai.evaluation.runners import save_segmentation_checkpoint

    config = SegmentationConfig(head="upernet", head_kwargs=TINY_HEAD, image_size=SEG_SIZE,
                                class_names=["background", "lung"])
    torch.manual_seed(0)
    model = FrozenSegmentationModel("tiny_vit_p14", "upernet", 2, head_kwargs=TINY_HEAD).eval()
    image = segmentation_transforms(SEG_SIZE, None)({"image": str(STUDIES["cyst"])})["image"][None]
    with torch.no_grad():
        logits = model(image)
        model.head.decode.classifier.bias[1] -= float((logits[0, 1] - logits[0, 0]).median())
    return save_segmentation_checkpoint(model, config, "tiny_vit_p14", out / "model.pt")


def _report_bundle(root: Path, bundles: Path) -> Path:
    """The real report bundle (``bundles/raddino_cxr_report``) exported as ``tools/report.py train --bundle_dir``
    does, around an untrained tiny model: tiny_vit_p14 at 28 px, a seeded projector and a random-init GPT-2 whose
    tokenizer is trained on :data:`REPORT_TEXTS`."""
    import torch

    from raddino_monai.report import EncoderReference, ReportGenerator, ReportModelConfig, load_causal_lm
    from raddino_monai.report import save_report_model
    from raddino_monai.report.tiny import build_random_lm
    from raddino_monai.serving.report_bundle import export_report_bundle

    lm_dir = build_random_lm(root / "tiny_lm", REPORT_TEXTS, family="gpt2", seed=1)
    lm, tokenizer = load_causal_lm(lm_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = ReportGenerator(lm, tokenizer, 192, ReportModelConfig(template="plain", model_max_length=128),
                                lm_source=str(lm_dir))
    model.encoder_ref = EncoderReference(arch="tiny_vit_p14", image_size=28)
    save_report_model(model, root / "report_model")
    return export_report_bundle(root / "report_model", bundles / REPORT_BUNDLE)


def _non_square_dicom(src: Path, out: Path) -> Path:
    """The MONOCHROME2 sample cropped to 1024 x 700 (rows x columns), written uncompressed."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    ds = pydicom.dcmread(str(src))
    pixels = ds.pixel_array[:, :700].copy()
    ds.PixelData, ds.Rows, ds.Columns = pixels.tobytes(), pixels.shape[0], pixels.shape[1]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(str(out), write_like_original=False)
    return out


def _bundles(root: Path) -> tuple[Path, Path]:
    import torch
    from torch import nn

    from raddino_monai.evaluation import LinearProbeConfig
    from raddino_monai.serving.bundle_export import export_classification_bundle, export_segmentation_bundle

    bundles = root / "bundles"
    torch.manual_seed(0)
    head = nn.Linear(192, 3)
    export_classification_bundle(head, "tiny_vit_p14", LinearProbeConfig(task="multiclass", image_size=28),
                                 CLASSES, bundles / "raddino_cxr_classification")
    checkpoint = _balanced_segmentation_checkpoint(root / "seg_checkpoint")
    export_segmentation_bundle(checkpoint, bundles / "raddino_cxr_segmentation")
    _report_bundle(root, bundles)
    # the SSL pretraining bundle sits beside them: it must be neither served nor trained
    shutil.copytree(ROOT / "bundles" / "raddino", bundles / "raddino")
    return bundles, checkpoint


def _studies(root: Path) -> Path:
    studies = root / "studies"
    studies.mkdir()
    for name, src in STUDIES.items():
        shutil.copy(src, studies / f"{name}{src.suffix}")
    from PIL import Image

    with Image.open(STUDIES["b"]) as img:
        img.convert("L").save(studies / "b_jpeg.jpeg", quality=95)
    _non_square_dicom(STUDIES["mono2"], studies / "narrow.dcm")
    return studies


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the session on 127.0.0.1 (stopped, and its exit checked, by ``test_zz_clean_shutdown``)."""
    from raddino_monai.serving.label.server import free_port, start_server, stop_server, wait_ready

    root = tmp_path_factory.mktemp("label")
    bundles, checkpoint = _bundles(root)
    studies = _studies(root)
    port = free_port()
    log = root / "server.log"
    process = start_server(bundles, studies, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
    except RuntimeError as err:
        stop_server(process)
        raise RuntimeError(f"{err}\n--- server log ---\n{log.read_text()[-4000:]}") from err
    yield Served(url, bundles, studies, checkpoint, process, log)
    stop_server(process)

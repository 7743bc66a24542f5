"""Our bundles behind a real MONAI Label server, called with ``monailabel.client`` and with plain HTTP.

One server serves the whole module (``served`` fixture); the tests run in file order and the last one stops it.
Expected answers are computed in this process through the core library's own paths (``segment_predict_job`` for
masks, the bundle's preprocessing + network for class scores), never by the server's code.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
import torch
from monai.bundle import ConfigParser
from monailabel.client import MONAILabelClient
from PIL import Image

from raddino_monai.evaluation.runners import segment_predict_job
from raddino_monai.serving.label.server import stop_server
from raddino_monai.transforms import LoadCXR

from label_cases import CLASSES, REPORT_BUNDLE, SAMPLE, STUDIES, Served

SEG, CLS, REPORT = "raddino_cxr_segmentation", "raddino_cxr_classification", REPORT_BUNDLE


def _infer_image(url: str, model: str, image: str, params: dict | None = None) -> np.ndarray:
    answer = requests.post(f"{url}/infer/{model}", params={"image": image, "output": "image"},
                           data={"params": json.dumps(params or {})}, timeout=120)
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)))


def _client_infer(url: str, model: str, image: str) -> dict:
    """``MONAILabelClient.infer``'s JSON; monailabel 0.8.5's client returns the raw bytes when no file comes back."""
    _, params = MONAILabelClient(url).infer(model, image, {})
    return json.loads(params) if isinstance(params, (bytes, str)) else params


def _expected_mask(checkpoint: Path, image: Path, tmp: Path) -> np.ndarray:
    """Lung mask of the core library's predict path (``tools/segment.py predict``), as displayed."""
    written = segment_predict_job(checkpoint, [str(image)], tmp)
    return np.asarray(Image.open(written[0]["mask"])) > 0


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean()) if a.shape == b.shape else 0.0


def _datastore(url: str) -> dict:
    return requests.get(f"{url}/datastore/", params={"output": "all"}, timeout=30).json()


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_info_serves_our_bundles_only(served: Served) -> None:
    info = MONAILabelClient(served.url).info()
    assert set(info["models"]) == {CLS, SEG, REPORT}  # the SSL bundle "raddino" is not served ...
    assert set(info["trainers"]) == {SEG}  # ... nor trained
    assert info["models"][CLS]["type"] == "classification" and info["models"][CLS]["dimension"] == 2
    assert info["models"][CLS]["labels"] == {name: i for i, name in enumerate(CLASSES)}
    assert info["models"][SEG]["type"] == "segmentation" and info["models"][SEG]["labels"] == {"lung": 1}
    assert info["models"][REPORT]["type"] == "others" and info["models"][REPORT]["labels"] == {}


def test_datastore_lists_dicom_and_jpeg(served: Served) -> None:
    ids = set(_datastore(served.url)["objects"])
    assert {"mono1", "mono2", "narrow", "b_jpeg", "cyst", "a", "b"} <= ids


def test_classification_scores_with_names(served: Served) -> None:
    params = _client_infer(served.url, CLS, "cyst")
    assert [p["label"] for p in params["prediction"]] == CLASSES
    scores = np.array([p["score"] for p in params["prediction"]])
    assert scores.sum() == pytest.approx(1.0, abs=1e-5)
    bundle = served.bundles / CLS
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser["bundle_root"] = str(bundle)
    net = parser.get_parsed_content("network_def").eval()
    net.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True)["model"])
    x = parser.get_parsed_content("preprocessing")({"image": str(STUDIES["cyst"])})["image"][None]
    with torch.no_grad():
        expected = torch.softmax(net(torch.as_tensor(x)), 1)[0].numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-5)


@pytest.mark.parametrize("image_id,source", [("cyst", "cyst.png"), ("b_jpeg", "b_jpeg.jpeg"), ("mono1", "mono1.dcm"),
                                             ("mono2", "mono2.dcm"), ("narrow", "narrow.dcm")])
def test_segmentation_mask_has_input_shape_and_orientation(served: Served, image_id: str, source: str,
                                                           tmp_path: Path) -> None:
    path = served.studies / source
    mask = _infer_image(served.url, SEG, image_id)
    image = LoadCXR()(str(path))
    assert mask.shape == tuple(image.shape[-2:])  # rows x columns as displayed, for PNG, JPEG and DICOM alike
    assert set(np.unique(mask).tolist()) <= {0, 1}
    expected = _expected_mask(served.checkpoint, path, tmp_path)
    assert 0.05 < expected.mean() < 0.95, "the fixture's mask must follow image content"
    lung = mask == 1
    assert _agreement(lung, expected) >= 0.99
    # a flipped or transposed answer would not match: the expected mask is not symmetric under these
    for wrong in (expected[::-1], expected[:, ::-1], expected.T):
        assert _agreement(lung, wrong) < 0.97


def test_segmentation_nifti_answer(served: Served) -> None:
    answer = requests.post(f"{served.url}/infer/{SEG}", params={"image": "cyst", "output": "image"},
                           data={"params": json.dumps({"result_extension": ".nii.gz"})}, timeout=120)
    assert answer.status_code == 200, answer.text
    nifti = Path(served.studies.parent / "answer.nii.gz")
    nifti.write_bytes(answer.content)
    from raddino_monai.transforms.masks import read_mask_file

    png = _infer_image(served.url, SEG, "cyst")
    np.testing.assert_array_equal(read_mask_file(nifti), png)  # LoadCXR axis convention: same rows x columns


def _expected_report(bundle: Path, image: Path) -> str:
    """The bundle's own single-image flow in this process: preprocessing -> network -> inferer (one string)."""
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.update({"bundle_root": str(bundle), "device": "$torch.device('cpu')"})
    x = parser.get_parsed_content("preprocessing")({"image": str(image)})["image"][None]
    (text,) = parser.get_parsed_content("inferer")(x, parser.get_parsed_content("network"))
    return text


@pytest.mark.parametrize("image_id,source", [("cyst", "cyst.png"), ("mono1", "mono1.dcm")])
def test_report_returns_the_generated_findings(served: Served, image_id: str, source: str) -> None:
    params = _client_infer(served.url, REPORT, image_id)
    assert set(params) >= {"report"} and isinstance(params["report"], str) and params["report"].strip()
    assert params["report"] == _expected_report(served.bundles / REPORT, served.studies / source)
    answer = requests.post(f"{served.url}/infer/{REPORT}", params={"image": image_id, "output": "json"}, timeout=120)
    assert answer.status_code == 200 and answer.json()["report"] == params["report"]  # plain HTTP, same text


def test_report_depends_on_the_image(served: Served) -> None:
    texts = {i: _client_infer(served.url, REPORT, i)["report"] for i in ("cyst", "a", "b", "mono2")}
    assert len(set(texts.values())) > 1, texts  # the image tokens reach the LM through the server


def test_bad_uploads_answer_http_errors_and_keep_the_datastore(served: Served, tmp_path: Path) -> None:
    url, before, files = served.url, set(_datastore(served.url)["objects"]), _digests(served.studies)
    good = STUDIES["a"].read_bytes()
    (tmp_path / "corrupt.png").write_bytes(good[: len(good) // 3])
    (tmp_path / "text.png").write_text("not an image")
    ds = pydicom.dcmread(str(STUDIES["mono2"]))
    del ds.PixelData
    ds.save_as(str(tmp_path / "nopixels.dcm"))
    (tmp_path / "notes.txt").write_text("hello")
    cases = [("corrupt", "corrupt.png", 422, "truncated"), ("text", "text.png", 422, "cannot identify"),
             ("nopixels", "nopixels.dcm", 422, "Pixel Data"), ("notes", "notes.txt", 415, "unsupported file type"),
             ("a", "corrupt.png", 409, "already exists")]
    for image_id, name, status, words in cases:
        with open(tmp_path / name, "rb") as fp:
            answer = requests.put(f"{url}/datastore/", params={"image": image_id}, files={"file": (name, fp)},
                                  timeout=60)
        assert answer.status_code == status, (name, answer.text)
        assert words in answer.json()["detail"], answer.text
    # an uploaded corrupt image sent straight to /infer
    with open(tmp_path / "corrupt.png", "rb") as fp:
        answer = requests.post(f"{url}/infer/{CLS}", params={"output": "json"}, files={"file": ("c.png", fp)},
                               timeout=60)
    assert answer.status_code == 422 and "truncated" in answer.json()["detail"]
    with open(tmp_path / "corrupt.png", "rb") as fp:  # the report task answers the same way
        answer = requests.post(f"{url}/infer/{REPORT}", params={"output": "json"}, files={"file": ("c.png", fp)},
                               timeout=60)
    assert answer.status_code == 422 and "truncated" in answer.json()["detail"]
    # labels: wrong size, not an image
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "small.png")
    for name, words in [("small.png", "label is 10x12"), ("text.png", "not a readable label")]:
        with open(tmp_path / name, "rb") as fp:
            answer = requests.put(f"{url}/datastore/label", params={"image": "a", "tag": "final"},
                                  files={"label": (name, fp)}, timeout=60)
        assert answer.status_code == 422 and words in answer.json()["detail"], answer.text
    # nothing lost, nothing replaced, and the server still serves
    assert set(_datastore(url)["objects"]) == before and _digests(served.studies) == files
    assert _infer_image(url, SEG, "a").shape == (256, 256)


def test_save_label_train_and_next_infer_uses_new_weights(served: Served, tmp_path: Path) -> None:
    client = MONAILabelClient(served.url)
    for image_id, mask in (("a", "00870a9c.png"), ("b", "02b76460.png")):
        client.save_label(image_id, str(SAMPLE / "masks" / mask), tag="final")
    assert _datastore(served.url)["objects"]["a"]["labels"]["final"]
    weights = served.bundles / SEG / "models" / "model.pt"
    old_mtime = weights.stat().st_mtime
    answer = requests.post(f"{served.url}/train/{SEG}", params={"run_sync": "true"},
                           json={"max_epochs": 2, "device": "cpu"}, timeout=600)
    assert answer.status_code == 200, answer.text
    assert weights.stat().st_mtime > old_mtime
    kept = list((weights.parent / "history").glob("model_*.pt"))
    assert len(kept) == 1  # the previous weights are kept
    old = torch.load(served.checkpoint, weights_only=True)["model"]
    assert all(torch.equal(v, torch.load(kept[0], weights_only=True)["model"][k]) for k, v in old.items())
    # the new weights as a tools/segment.py checkpoint, to predict with the core library
    new_ckpt = tmp_path / "new.pt"
    shutil.copy(weights, new_ckpt)
    shutil.copy(served.checkpoint.with_suffix(".json"), new_ckpt.with_suffix(".json"))
    path = served.studies / "cyst.png"
    expected_new = _expected_mask(new_ckpt, path, tmp_path / "new")
    expected_old = _expected_mask(served.checkpoint, path, tmp_path / "old")
    assert _agreement(expected_new, expected_old) < 1.0, "two epochs must move some pixels"
    lung = _infer_image(served.url, SEG, "cyst") == 1
    assert _agreement(lung, expected_new) >= 0.99
    assert _agreement(lung, expected_new) > _agreement(lung, expected_old)


def test_zz_clean_shutdown(served: Served) -> None:
    assert stop_server(served.process) == 0
    log = served.log.read_text()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log.split("Application startup complete")[0]

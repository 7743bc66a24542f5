from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

from raddino_monai.inference import embed_images, extract_embeddings, load_embeddings, resolve_inputs
from raddino_monai.models import RadDinoBackbone, export_hf_folder
from raddino_monai.transforms import CXRLoadError

# Images with the largest "torch"-backend difference from the processor (up to 18 grey levels near burnt-in text)
# and two smooth ones; every sample image is covered at the pixel level by tests/transforms/test_preprocess.py.
HARD_IMAGES = ("4c0fcf57.png", "c0f74558.png", "00870a9c.png", "08d780ae.png")


class _RadDinoPackagePath:
    """What microsoft's ``rad_dino`` package (PyPI rad-dino 0.1.1, ``rad_dino/__init__.py``) does with a model
    folder, replicated without installing it: ``AutoModel.from_pretrained(folder).eval()``,
    ``AutoImageProcessor.from_pretrained(folder, use_fast=False)`` (transformers 5 spells it ``backend="pil"``),
    ``processor(image, return_tensors="pt")``, CLS = ``last_hidden_state[:, 0]``, patches = ``[:, 1:]`` rearranged
    ``"b (h w) d -> b d h w"`` with ``h = crop_size["height"] // patch_size`` [CARD]."""

    def __init__(self, folder: Path) -> None:
        self.model = AutoModel.from_pretrained(str(folder)).eval()
        self.processor = AutoImageProcessor.from_pretrained(str(folder), backend="pil")

    def __call__(self, path: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from einops import rearrange

        with Image.open(path) as image, torch.inference_mode():
            inputs = self.processor(image, return_tensors="pt")
            tokens = self.model(**inputs).last_hidden_state
        h = self.processor.crop_size["height"] // self.model.config.patch_size
        grid = rearrange(tokens[:, 1:], "b (h w) d -> b d h w", h=h)
        return inputs["pixel_values"][0], tokens[0, 0], grid[0]


def _hard_paths() -> list[str]:
    from raddino_monai.data.sample_data import sample_data_dir

    return [str(sample_data_dir() / "images" / name) for name in HARD_IMAGES]


@pytest.mark.parametrize("export", ["export_hf_folder", "convert_weights_to_hf"])
def test_exported_folder_gives_our_tokens_in_the_rad_dino_package_path(tiny_backbone: RadDinoBackbone, tmp_path: Path,
                                                                       export: str) -> None:
    """The cause of the 0.998 patch-token cosine of issue 12 was our float resize; with the default "pil" backend
    the package's features and ours agree up to float rounding of batched vs single forward passes."""
    from raddino_monai.models import export_dinov2_safetensors
    from raddino_monai.models.weights.convert import convert_to_hf  # what tools/convert_weights.py to_hf runs

    if export == "export_hf_folder":
        folder = export_hf_folder(tiny_backbone, tmp_path / "hf")
    else:
        src = export_dinov2_safetensors(tiny_backbone, tmp_path / "backbone_compatible.safetensors")
        folder = convert_to_hf(src, tmp_path / "hf", arch="tiny_vit_p14")
    package = _RadDinoPackagePath(folder)
    paths = _hard_paths()
    out = load_embeddings(extract_embeddings(paths, tmp_path / "e.npz", backbone=tiny_backbone,
                                             pooling=("cls", "patch"), progress=False))
    from monai.transforms import Compose

    from raddino_monai.transforms import LoadCXRd, raddino_preprocessing

    ours_pixels = Compose([LoadCXRd("image"), raddino_preprocessing("image", size=112)])
    for n, path in enumerate(paths):
        pixels, cls, grid = package(path)
        assert torch.equal(torch.as_tensor(ours_pixels({"image": path})["image"]), pixels), path  # bit for bit
        ours_cls, ours_grid = torch.from_numpy(out["cls"][n]), torch.from_numpy(out["patch"][n])
        torch.testing.assert_close(ours_cls, cls, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ours_grid, grid, rtol=1e-5, atol=1e-5)
        assert F.cosine_similarity(ours_grid.flatten(1), grid.flatten(1), dim=0).min() > 0.99999


def test_torch_backend_is_not_the_package_path(tiny_backbone: RadDinoBackbone, tmp_path: Path) -> None:
    """Negative control: the fast float path differs measurably from the processor on a hard image."""
    from monai.transforms import Compose

    from raddino_monai.transforms import LoadCXRd, raddino_preprocessing

    package = _RadDinoPackagePath(export_hf_folder(tiny_backbone, tmp_path / "hf"))
    fast = Compose([LoadCXRd("image"), raddino_preprocessing("image", size=112, resize_backend="torch")])
    pixels, _, _ = package(_hard_paths()[0])
    assert float((torch.as_tensor(fast({"image": _hard_paths()[0]})["image"]) - pixels).abs().max()) > 2 / 255 / 0.2583


def test_outputs_ids_order_and_formats(tiny_backbone: RadDinoBackbone, sample_paths: list[str], tmp_path: Path) -> None:
    npz = load_embeddings(extract_embeddings(sample_paths, tmp_path / "e.npz", backbone=tiny_backbone, batch_size=2,
                                             pooling=("cls", "mean", "patch"), progress=False))
    assert npz["ids"] == sample_paths
    assert npz["cls"].shape == (5, 192) and npz["mean"].shape == (5, 192) and npz["patch"].shape == (5, 192, 8, 8)
    assert npz["cls"].dtype == np.float32 and npz["meta"]["image_size"] == 112
    np.testing.assert_allclose(npz["mean"], npz["patch"].mean(axis=(2, 3)), rtol=1e-5, atol=1e-5)
    st = load_embeddings(extract_embeddings(sample_paths[::-1], tmp_path / "e.safetensors", backbone=tiny_backbone,
                                            batch_size=3, progress=False))
    assert st["ids"] == sample_paths[::-1] and set(st) == {"ids", "meta", "cls", "mean"}
    np.testing.assert_allclose(st["cls"][::-1], npz["cls"], rtol=1e-5, atol=1e-5)  # batch-independent, deterministic
    assert not (tmp_path / "e.npz.parts").exists()
    bf16 = load_embeddings(extract_embeddings(sample_paths[:2], tmp_path / "bf16.npz", backbone=tiny_backbone,
                                              bf16=True, progress=False))
    assert bf16["cls"].dtype == np.float32
    np.testing.assert_allclose(bf16["mean"], npz["mean"][:2], atol=0.05)  # bf16 autocast: ~3 significant digits
    with pytest.raises(ValueError, match="'cls', 'mean', 'patch'"):
        extract_embeddings(sample_paths, tmp_path / "x.npz", backbone=tiny_backbone, pooling=("max",))
    with pytest.raises(ValueError, match=".npz"):
        extract_embeddings(sample_paths, tmp_path / "x.h5", backbone=tiny_backbone, progress=False)


def test_resume_skips_done_ids(tiny_backbone: RadDinoBackbone, sample_paths: list[str], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    reference = load_embeddings(extract_embeddings(sample_paths, tmp_path / "ref.npz", backbone=tiny_backbone,
                                                   batch_size=2, progress=False))
    calls: list[int] = []
    original = tiny_backbone.forward_features

    def crashing(x: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        calls.append(x.shape[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # interrupted during the second batch
        return original(x, masks)

    monkeypatch.setattr(tiny_backbone, "forward_features", crashing)
    with pytest.raises(KeyboardInterrupt):
        extract_embeddings(sample_paths, tmp_path / "e.npz", backbone=tiny_backbone, batch_size=2, progress=False)
    assert len(list((tmp_path / "e.npz.parts").glob("shard_*.npz"))) == 1
    calls.clear()
    def counting(x: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        calls.append(x.shape[0])
        return original(x, masks)

    monkeypatch.setattr(tiny_backbone, "forward_features", counting)
    resumed = load_embeddings(extract_embeddings(sample_paths, tmp_path / "e.npz", backbone=tiny_backbone,
                                                 batch_size=2, progress=False))
    assert calls == [2, 1]  # only the 3 images not done before
    assert resumed["ids"] == reference["ids"]
    np.testing.assert_allclose(resumed["cls"], reference["cls"], rtol=1e-5, atol=1e-6)


def test_resume_refuses_other_settings(tiny_backbone: RadDinoBackbone, sample_paths: list[str], tmp_path: Path) -> None:
    parts = tmp_path / "e.npz.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"image_size": 518}')
    with pytest.raises(ValueError, match="image_size"):
        extract_embeddings(sample_paths, tmp_path / "e.npz", backbone=tiny_backbone, progress=False)
    extract_embeddings(sample_paths[:1], tmp_path / "e.npz", backbone=tiny_backbone, resume=False, progress=False)


def test_inputs_folder_datalist_and_errors(sample_paths: list[str], tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(sample_paths[0], folder / "b.png")
    shutil.copy(sample_paths[1], folder / "sub" / "a.png")
    (folder / "notes.txt").write_text("not an image")
    ids, paths = resolve_inputs(folder)
    assert ids == ["b.png", "sub/a.png"] and paths[1] == str(folder / "sub" / "a.png")
    datalist = tmp_path / "list.json"
    datalist.write_text('{"test": [{"image": "imgs/b.png"}, {"image": "imgs/sub/a.png", "id": "case-7"}]}')
    assert resolve_inputs(datalist)[0] == ["imgs/b.png", "case-7"]
    with pytest.raises(ValueError, match="duplicate"):
        resolve_inputs([sample_paths[0], sample_paths[0]])
    with pytest.raises(FileNotFoundError):
        resolve_inputs(tmp_path / "missing")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"broken")
    with pytest.raises(CXRLoadError, match="bad.png"):
        extract_embeddings([str(bad)], tmp_path / "e.npz", arch="tiny_vit_p16", progress=False)


def test_mixed_folder_png_jpeg_dicom_and_preprocessing_cache(tiny_backbone: RadDinoBackbone, sample_paths: list[str],
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from raddino_monai.data.sample_data import sample_data_dir
    from raddino_monai.inference import embeddings as embeddings_module

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(sample_paths[0], folder / "a.png")
    Image.open(sample_paths[1]).convert("L").save(folder / "b.jpg", quality=95)
    shutil.copy(sorted((sample_data_dir() / "dicom").glob("*.dcm"))[0], folder / "c.dcm")
    cache = tmp_path / "cache"
    first = load_embeddings(extract_embeddings(folder, tmp_path / "e1.npz", backbone=tiny_backbone, batch_size=2,
                                               cache_dir=cache, progress=False))
    assert first["ids"] == ["a.png", "b.jpg", "c.dcm"] and first["cls"].shape == (3, 192)
    assert np.isfinite(first["cls"]).all() and len(list(cache.glob("*.safetensors"))) == 3

    class NoLoading:  # a second run must take every image from the cache
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __call__(self, data: dict) -> dict:
            raise AssertionError(f"{data['image']} was decoded again despite the cache")

    monkeypatch.setattr(embeddings_module, "LoadCXRd", NoLoading)
    second = load_embeddings(extract_embeddings(folder, tmp_path / "e2.npz", backbone=tiny_backbone, batch_size=2,
                                                cache_dir=cache, progress=False))
    np.testing.assert_array_equal(second["cls"], first["cls"])
    with pytest.raises(AssertionError, match="decoded again"):  # other preprocessing settings: other cache keys
        extract_embeddings(folder, tmp_path / "e3.npz", backbone=tiny_backbone, fit="pad", cache_dir=cache,
                           progress=False)


def test_embed_images_is_the_file_path_in_memory(tiny_backbone: RadDinoBackbone, sample_paths: list[str],
                                                 tmp_path: Path) -> None:
    pooling = ("cls", "cls_patchmean", "last_n_cls")
    feats = embed_images(tiny_backbone, sample_paths[:3], pooling=pooling, n_last_blocks=2, batch_size=2,
                         progress=False)
    out = load_embeddings(extract_embeddings(sample_paths[:3], tmp_path / "e.npz", backbone=tiny_backbone,
                                             pooling=pooling, n_last_blocks=2, batch_size=2, progress=False))
    for name in pooling:
        assert np.array_equal(feats[name], out[name]), name
    assert feats["last_n_cls"].shape == (3, 2 * tiny_backbone.embed_dim) and out["meta"]["n_last_blocks"] == 2
    with pytest.raises(ValueError, match="no image paths"):
        embed_images(tiny_backbone, [])
    with pytest.raises(ValueError, match="valid values"):
        embed_images(tiny_backbone, sample_paths[:1], pooling=["gem"])


def test_deprecated_extract_features_runs_the_same_loop(tiny_backbone: RadDinoBackbone,
                                                        sample_paths: list[str]) -> None:
    from raddino_monai.evaluation import FrozenEncoder, classification_transforms, extract_features

    with pytest.warns(DeprecationWarning, match="raddino_monai.inference.embed_images"):
        old = extract_features(FrozenEncoder(tiny_backbone, "mean"), sample_paths[:2], classification_transforms(56))
    new = embed_images(tiny_backbone, sample_paths[:2], pooling=["mean"], image_size=56, progress=False)["mean"]
    assert np.array_equal(old.numpy(), new)

"""Tutorial 01: load chest X-rays (PNG and DICOM) and apply the RAD-DINO preprocessing, cropped or padded.

    .venv/bin/python tutorials/01_load_and_preprocess.py OUTPUT_DIR
    .venv/bin/python tutorials/01_load_and_preprocess.py OUTPUT_DIR --size=224

Writes ``OUTPUT_DIR/crop_vs_pad.png`` and prints the meta of each loaded image. Everything comes from the sample data
embedded in the package: the widest sample PNG and the two torchxrayvision DICOMs (MONOCHROME2 and its MONOCHROME1
twin: the same stored pixels, so once loaded as displayed the twin is the negative of the original).

Steps:
    1. ``LoadCXR`` reads each file into a float32 ``MetaTensor`` ``(1, H, W)`` in [0, 1], displayed orientation,
       0 = black as displayed (MONOCHROME1 is inverted), with de-identified meta: spacing, view, modality,
       photometric interpretation, bits stored. Unknown values are typed placeholders (``""``, ``(nan, nan)``, 0),
       never ``None``, and no DICOM patient identifier is ever copied.
    2. ``raddino_preprocessing_array(fit="crop")`` is microsoft/rad-dino's ``BitImageProcessor`` (bit for bit on
       8-bit images: uint8 PIL bicubic resize of the short side to 518, centre crop 518 x 518, normalise with mean
       0.5307 / std 0.2583, 3 channels); ``resize_backend="torch"`` is a float resize, not identical.
    3. ``fit="pad"`` keeps the whole image instead: long side to 518, symmetric padding with black. The figure shows
       the difference on a non-square radiograph: the crop loses the edges of the long axis.
"""

from __future__ import annotations

from pathlib import Path

import fire
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from monai.data import MetaTensor  # noqa: E402
from PIL import Image  # noqa: E402

from raddino_monai.data.sample_data import load_sample_datalist, sample_dicom_paths  # noqa: E402
from raddino_monai.transforms import RADDINO_PREPROCESS, LoadCXR, raddino_preprocessing_array  # noqa: E402

#: meta keys printed for every image (the LoadCXR meta contract of docs/architecture.md)
META_KEYS = (
    "spatial_shape", "pixel_spacing", "view_position", "modality", "photometric_interpretation", "bits_stored",
)  # fmt: skip


def widest_sample_png() -> Path:
    """The embedded sample PNG with the largest long/short side ratio (ties: first in datalist order)."""

    def ratio(path: str) -> float:
        with Image.open(path) as image:
            return max(image.size) / min(image.size)

    paths = [item["image"] for item in load_sample_datalist()]
    return Path(max(paths, key=ratio))


def describe(name: str, image: MetaTensor) -> str:
    """One line per image: name, shape, intensity range and the de-identified meta."""
    values = {key: image.meta[key] for key in META_KEYS}
    values["spatial_shape"] = tuple(int(n) for n in values["spatial_shape"])
    meta = ", ".join(f"{key}={value!r}" for key, value in values.items())
    low, high = float(image.min()), float(image.max())
    return f"{name}: shape {tuple(image.shape)}, range [{low:.3f}, {high:.3f}]; {meta}"


def _show(ax: plt.Axes, image: torch.Tensor, title: str, normalised: bool) -> None:
    shown = image[0] * RADDINO_PREPROCESS.std + RADDINO_PREPROCESS.mean if normalised else image[0]
    ax.imshow(shown.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def main(output_dir: str, size: int = RADDINO_PREPROCESS.size) -> Path:
    """Load the sample images, preprocess each with ``fit="crop"`` and ``fit="pad"``, save a comparison PNG.

    Args:
        output_dir: folder for ``crop_vs_pad.png`` (created if needed).
        size: output side of the preprocessing ([HF] 518; smaller is faster).

    Returns:
        path of the written PNG.
    """
    dicoms = sample_dicom_paths()
    files = {
        "sample PNG": widest_sample_png(),
        "DICOM MONOCHROME2": dicoms["MONOCHROME2"],
        "DICOM MONOCHROME1": dicoms["MONOCHROME1"],
    }
    loader = LoadCXR()
    images = {name: loader(path) for name, path in files.items()}
    for name, image in images.items():
        print(describe(name, image))
    twin_gap = float((images["DICOM MONOCHROME1"] - (1.0 - images["DICOM MONOCHROME2"])).abs().max())
    print(f"MONOCHROME1 twin == 1 - MONOCHROME2 within {twin_gap * 255:.2f} grey levels (same stored pixels)")

    fits = {fit: raddino_preprocessing_array(size=size, fit=fit) for fit in ("crop", "pad")}
    fig, axes = plt.subplots(len(images), 1 + len(fits), figsize=(3.2 * (1 + len(fits)), 3.3 * len(images)))
    for row, (name, image) in enumerate(images.items()):
        _show(axes[row, 0], image.as_tensor(), f"{name}\nloaded {tuple(image.shape[-2:])}", normalised=False)
        for col, (fit, transform) in enumerate(fits.items(), start=1):
            out = transform(image)
            title = f'fit="{fit}" -> {tuple(out.shape)}\nmean {float(out.mean()):+.2f}, std {float(out.std()):.2f}'
            _show(axes[row, col], torch.as_tensor(out), title, normalised=True)
    fig.suptitle("RAD-DINO preprocessing: centre crop (rad-dino default) vs pad (keeps the whole image)")
    fig.tight_layout()

    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "crop_vs_pad.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path  # fire prints it


if __name__ == "__main__":
    fire.Fire(main)

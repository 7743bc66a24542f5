"""Tutorial 02: the DINO multi-crop views RAD-DINO trains on, drawn from one chest X-ray.

    .venv/bin/python tutorials/02_multicrop_views.py OUTPUT_DIR
    .venv/bin/python tutorials/02_multicrop_views.py OUTPUT_DIR --preset=dinov2 --seed=3 --image=/path/to/cxr.png

Writes ``OUTPUT_DIR/multicrop_views.png``: the input (short side resized to the global crop size, as RAD-DINO's
offline preprocessing did [CARD]) with every crop box drawn on it, the global views (teacher and student) and the
local views (student only), each titled with its crop box and flip. Views are shown un-normalised.

Steps:
    1. Load one embedded sample radiograph with ``LoadCXR`` (or draw a synthetic one if the package was installed
       without its sample data): a float ``(1, H, W)`` image in [0, 1].
    2. ``ResizeShortestEdge(global_size)``: RAD-DINO's crop scales are fractions of a 518-px short side.
    3. ``MultiCrop(MultiCropConfig.raddino())``: 2 global 518-px views and 8 local 196-px views, each with its own
       crop, flip, brightness/contrast jitter and blur draw; solarisation only on the second global view.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fire
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from raddino_monai.transforms import LoadCXR, MultiCrop, MultiCropConfig, ResizeShortestEdge  # noqa: E402

PRESETS: dict[str, Callable[[], MultiCropConfig]] = {
    "raddino": MultiCropConfig.raddino,
    "dinov2": MultiCropConfig.dinov2,
    "tiny": MultiCropConfig.tiny,
}


def load_example_image(image: str | None) -> tuple[torch.Tensor, str]:
    """A ``(1, H, W)`` float image in [0, 1] and its name: ``image``, else the first sample image, else synthetic."""
    if image is not None:
        return LoadCXR()(image).as_tensor(), Path(image).name
    try:
        from raddino_monai.data.sample_data import load_sample_datalist

        path = load_sample_datalist("training")[0]["image"]
        return LoadCXR()(path).as_tensor(), Path(path).name
    except FileNotFoundError:
        from raddino_monai.data.synthetic import make_synthetic_cxr

        pixels, _ = make_synthetic_cxr(size=(320, 288), seed=0)
        return torch.from_numpy(pixels)[None], "synthetic radiograph"


def _show(ax: plt.Axes, view: torch.Tensor, config: MultiCropConfig, title: str) -> None:
    mean = torch.tensor(config.mean).view(-1, 1, 1) if config.normalize else torch.zeros(1, 1, 1)
    std = torch.tensor(config.std).view(-1, 1, 1) if config.normalize else torch.ones(1, 1, 1)
    ax.imshow((view * std + mean)[0].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def main(output_dir: str, image: str | None = None, preset: str = "raddino", seed: int = 0) -> Path:
    """Draw the multi-crop views of one radiograph and save them as a PNG grid.

    Args:
        output_dir: folder for ``multicrop_views.png`` (created if needed).
        image: a PNG/JPEG/DICOM/NIfTI chest X-ray; default: the first embedded sample image.
        preset: one of :data:`PRESETS` (``raddino``, ``dinov2``, ``tiny``).
        seed: seed of the multi-crop draws.

    Returns:
        path of the written PNG.

    Raises:
        ValueError: if ``preset`` is unknown.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}.")
    config = PRESETS[preset]()
    pixels, name = load_example_image(image)
    pixels = ResizeShortestEdge(config.global_size)(pixels)
    pixels = pixels.as_tensor() if hasattr(pixels, "as_tensor") else pixels
    multicrop = MultiCrop(config, seed=seed)
    views = multicrop(pixels)

    n_cols = max(config.n_global + 1, 4)
    n_local_rows = -(-config.n_local // n_cols)
    fig, axes = plt.subplots(1 + n_local_rows, n_cols, figsize=(2.6 * n_cols, 2.8 * (1 + n_local_rows)), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    axes[0, 0].imshow(pixels[0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title(f"input {tuple(pixels.shape[-2:])}\n{name}", fontsize=8)
    boxes = [(p, "tab:red") for p in multicrop.global_params] + [(p, "tab:cyan") for p in multicrop.local_params]
    for params, colour in boxes:
        top, left, height, width = params.box
        axes[0, 0].add_patch(Rectangle((left, top), width, height, fill=False, edgecolor=colour, linewidth=0.8))
    for v, (params, view) in enumerate(zip(multicrop.global_params, views["global_crops"])):
        title = f"global {v + 1} {tuple(view.shape[-2:])}\nbox {params.box[2]}x{params.box[3]} flip={params.flip}"
        _show(axes[0, v + 1], view, config, title)
    for v, (params, view) in enumerate(zip(multicrop.local_params, views["local_crops"])):
        title = f"local {v + 1} {tuple(view.shape[-2:])}\nbox {params.box[2]}x{params.box[3]} flip={params.flip}"
        _show(axes[1 + v // n_cols, v % n_cols], view, config, title)
    fig.suptitle(f"MultiCropConfig.{preset}() views (seed {seed}); red = global boxes, cyan = local boxes")
    fig.tight_layout()

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "multicrop_views.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path  # fire prints it


if __name__ == "__main__":
    fire.Fire(main)

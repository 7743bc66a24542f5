"""Fixtures for tests/data: PIL-written PNG files and a minimal PNG loader that raises ``CXRLoadError``."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.transforms import MapTransform
from PIL import Image

from raddino_monai.transforms.errors import CXRLoadError


def write_png(path: Path, height: int = 20, width: int = 16, value: int | None = None) -> Path:
    """Write an 8-bit grey PNG whose pixels are ``value`` or a ramp; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ramp = (np.arange(height * width) % 256).reshape(height, width)
    pixels = np.full((height, width), value) if value is not None else ramp
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(path)
    return path


class PILPNGLoadd(MapTransform):
    """Test loader: PNG -> float tensor (1, H, W) in [0, 1]; unreadable files raise ``CXRLoadError``."""

    def __init__(self, keys: str = "image", calls: list[str] | None = None) -> None:
        super().__init__(keys)
        self.calls = calls if calls is not None else []

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.calls.append(str(d[key]))
            try:
                with Image.open(d[key]) as image:
                    pixels = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
            except (OSError, ValueError) as err:
                raise CXRLoadError(d[key], f"cannot decode as PNG ({type(err).__name__})") from err
            d[key] = torch.from_numpy(pixels)[None]
        return d


@pytest.fixture
def png_loader() -> type[PILPNGLoadd]:
    """The :class:`PILPNGLoadd` test loader class (tests do not import conftest modules directly)."""
    return PILPNGLoadd


@pytest.fixture
def png_writer(tmp_path: Path) -> Callable[..., Path]:
    """``png_writer("a.png", h, w, value)`` writes a PNG under ``tmp_path``."""
    return lambda name, *args, **kwargs: write_png(tmp_path / name, *args, **kwargs)


@pytest.fixture
def image_items(tmp_path: Path) -> list[dict[str, Any]]:
    """Six readable PNG items (3 patients x 2 images) and two bad ones (empty file, text file) at indices 2 and 5."""
    items: list[dict[str, Any]] = []
    for i in range(8):
        path = tmp_path / "images" / f"img{i}.png"
        if i == 2:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
        elif i == 5:
            path.write_text("not an image")
        else:
            write_png(path, value=10 * i)
        items.append({"image": str(path), "patient_id": f"PATIENT-{i // 3}", "label": i % 2})
    return items

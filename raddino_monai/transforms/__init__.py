"""MONAI transforms for chest X-rays: loading (PNG/JPEG/DICOM/NIfTI), RAD-DINO preprocessing, SSL augmentation.

Every transform comes as an array version and a ``d``-suffixed dictionary version. Loading follows the image
convention of ``docs/architecture.md``: ``LoadCXR(path)`` -> MetaTensor float32 ``(1, H, W)`` in ``[0, 1]``,
displayed orientation.
"""

from __future__ import annotations

from raddino_monai.transforms.dicom import read_dicom
from raddino_monai.transforms.errors import CXRLoadError
from raddino_monai.transforms.io import INTENSITY_MODES, UNKNOWN_META, LoadCXR, LoadCXRd
from raddino_monai.transforms.output_names import OutputNameError, output_name, output_names
from raddino_monai.transforms.pil_preprocess import PILPreprocess, PILPreprocessd
from raddino_monai.transforms.preprocess import (
    FIT_MODES,
    RADDINO_PREPROCESS,
    RESIZE_BACKENDS,
    FitToSquare,
    FitToSquared,
    RadDinoPreprocessConfig,
    ResizeShortestEdge,
    ResizeShortestEdged,
    raddino_preprocessing,
    raddino_preprocessing_array,
)

# --- SSL augmentation exports (multicrop.py, intensity.py) go below this line ---
from raddino_monai.transforms.intensity import (
    RandBrightnessContrast,
    RandBrightnessContrastd,
    RandGaussianBlur,
    RandGaussianBlurd,
    RandSolarize,
    RandSolarized,
    gaussian_blur,
)
from raddino_monai.transforms.multicrop import CROP_SAMPLERS, MultiCrop, MultiCropConfig, MultiCropd

__all__ = [
    # errors.py, dicom.py, io.py
    "CXRLoadError",
    "read_dicom",
    "INTENSITY_MODES",
    "UNKNOWN_META",
    "LoadCXR",
    "LoadCXRd",
    # output_names.py
    "OutputNameError",
    "output_name",
    "output_names",
    # preprocess_config.py, preprocess.py, pil_preprocess.py
    "RadDinoPreprocessConfig",
    "RADDINO_PREPROCESS",
    "RESIZE_BACKENDS",
    "PILPreprocess",
    "PILPreprocessd",
    "FIT_MODES",
    "ResizeShortestEdge",
    "ResizeShortestEdged",
    "FitToSquare",
    "FitToSquared",
    "raddino_preprocessing",
    "raddino_preprocessing_array",
    # --- SSL augmentation names (multicrop.py, intensity.py) go below this line ---
    "RandBrightnessContrast",
    "RandBrightnessContrastd",
    "RandGaussianBlur",
    "RandGaussianBlurd",
    "RandSolarize",
    "RandSolarized",
    "gaussian_blur",
    "CROP_SAMPLERS",
    "MultiCrop",
    "MultiCropConfig",
    "MultiCropd",
]

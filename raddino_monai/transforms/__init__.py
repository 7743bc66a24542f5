"""MONAI transforms for chest X-rays: loading (PNG/JPEG/DICOM/NIfTI), segmentation masks, RAD-DINO preprocessing,
SSL augmentation, ConVIRT's image and sentence transforms, and the report transforms of ECAMP (entity context
insertion, entity-aware MLM masking).

Every transform comes as an array version and a ``d``-suffixed dictionary version. Loading follows the image
convention of ``docs/architecture.md``: ``LoadCXR(path)`` -> MetaTensor float32 ``(1, H, W)`` in ``[0, 1]``,
displayed orientation.
"""

from __future__ import annotations

from raddino_monai.transforms.dicom import read_dicom
from raddino_monai.transforms.errors import CXRLoadError
from raddino_monai.transforms.io import INTENSITY_MODES, UNKNOWN_META, LoadCXR, LoadCXRd
from raddino_monai.transforms.masks import MASK_MODES, LoadMask, LoadMaskd, SaveMaskd
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
from raddino_monai.transforms.multicrop import MultiCrop, MultiCropd
from raddino_monai.transforms.multicrop_config import CROP_SAMPLERS, MULTICROP_RECIPES, MultiCropConfig

# --- image-text pretraining (ConVIRT): text.py, resized_crop.py, affine.py, convirt_augment.py ---
from raddino_monai.transforms.affine import RandIsotropicAffine, RandIsotropicAffined
from raddino_monai.transforms.convirt_augment import (
    ConVIRTAugmentConfig,
    convirt_augmentations,
    convirt_augmentations_array,
)
from raddino_monai.transforms.resized_crop import RandResizedCrop, RandResizedCropd
from raddino_monai.transforms.text import ABBREVIATIONS, RandSentence, RandSentenced, split_sentences

# --- report (text) transforms of ECAMP (entity_context.py, entity_mlm.py) ---
from raddino_monai.transforms.entity_context import (
    ECAMP_ENTITIES,
    InsertEntityContext,
    InsertEntityContextd,
    keyword_entity_sentence,
)
from raddino_monai.transforms.entity_mlm import MLM_KEYS, EntityAwareMLM, EntityAwareMLMd, EntityMLMConfig

# --- image side of ECAMP (ecamp_augment.py, mae_noise.py) ---
from raddino_monai.transforms.ecamp_augment import (
    ECAMPAugmentConfig,
    ecamp_augmentations,
    ecamp_augmentations_array,
)
from raddino_monai.transforms.mae_noise import RandMAENoise, RandMAENoised

__all__ = [
    # errors.py, dicom.py, io.py
    "CXRLoadError",
    "read_dicom",
    "INTENSITY_MODES",
    "UNKNOWN_META",
    "LoadCXR",
    "LoadCXRd",
    # masks.py
    "MASK_MODES",
    "LoadMask",
    "LoadMaskd",
    "SaveMaskd",
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
    "MULTICROP_RECIPES",
    "MultiCrop",
    "MultiCropConfig",
    "MultiCropd",
    # --- image-text pretraining (ConVIRT) ---
    "RandIsotropicAffine",
    "RandIsotropicAffined",
    "ConVIRTAugmentConfig",
    "convirt_augmentations",
    "convirt_augmentations_array",
    "RandResizedCrop",
    "RandResizedCropd",
    "ABBREVIATIONS",
    "RandSentence",
    "RandSentenced",
    "split_sentences",
    # --- report (text) transforms of ECAMP ---
    "ECAMP_ENTITIES",
    "InsertEntityContext",
    "InsertEntityContextd",
    "keyword_entity_sentence",
    "ECAMPAugmentConfig",
    "ecamp_augmentations",
    "ecamp_augmentations_array",
    "RandMAENoise",
    "RandMAENoised",
    "MLM_KEYS",
    "EntityAwareMLM",
    "EntityAwareMLMd",
    "EntityMLMConfig",
]

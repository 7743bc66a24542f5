"""raddino_monai: RAD-DINO self-supervised chest X-ray encoders on MONAI.

Importing the package has no side effects and imports no heavy submodule; import what you need, e.g.
``from raddino_monai.transforms import LoadCXRd`` or ``from raddino_monai.models import create_backbone``.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]

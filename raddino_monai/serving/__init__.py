"""Serving: trained heads -> ready-to-serve MONAI bundles (:mod:`.bundle_export`), and the MONAI Label app.

Layer: above ``evaluation`` / ``inference`` (it builds their networks), below ``tools``. :mod:`.bundle_export` runs in
the core environment. :mod:`raddino_monai.serving.label` (the MONAI Label tasks, datastore and app) imports
``monailabel`` and is only importable in the separate serving environment (``bash scripts/label_env.sh``,
docs/monai_label.md); nothing in the core package imports it.
"""

from __future__ import annotations

__all__: list[str] = []

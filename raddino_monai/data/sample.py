"""Deprecated location: the paths of the embedded sample data moved to :mod:`raddino_monai.data.sample_data` (the old
name read like "sampling").

Importing a name from here still works and emits a ``DeprecationWarning`` naming the new location.
"""

from __future__ import annotations

from raddino_monai._compat import moved_names

__getattr__ = moved_names(__name__)

"""Deprecated location: moved to :mod:`raddino_monai.models.ecamp.context_fusion`
(the ECAMP pieces live in ``models/ecamp/``).

Importing a name from here still works and emits a ``DeprecationWarning`` naming the new location.
"""

from __future__ import annotations

from raddino_monai._compat import moved_names

__getattr__ = moved_names(__name__)

"""Independent test oracles (NumPy re-derivations of the DINOv2 maths); never imported by package code."""

from __future__ import annotations

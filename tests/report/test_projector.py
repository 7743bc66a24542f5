"""Projectors: LLaVA's maths re-derived in NumPy, registry errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raddino_monai.report.projector import PROJECTORS, build_projector


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))  # exact (erf) GELU, torch's default


def test_mlp2x_gelu_matches_numpy() -> None:
    proj = build_projector("mlp2x_gelu", 6, 5)
    x = torch.randn(2, 3, 6)
    w1, b1, w2, b2 = (p.detach().double().numpy() for p in proj.parameters())
    expected = _gelu(x.double().numpy() @ w1.T + b1) @ w2.T + b2  # [LLaVA] Linear -> GELU -> Linear
    np.testing.assert_allclose(proj(x).detach().double().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert [type(m).__name__ for m in proj] == ["Linear", "GELU", "Linear"]


def test_linear_and_shapes() -> None:
    assert build_projector("linear", 6, 5)(torch.randn(2, 3, 6)).shape == (2, 3, 5)
    assert set(PROJECTORS) == {"linear", "mlp2x_gelu"}


def test_errors_list_valid_values() -> None:
    with pytest.raises(ValueError, match="valid values: \\['linear', 'mlp2x_gelu'\\]"):
        build_projector("mlp3x_relu", 6, 5)
    with pytest.raises(ValueError, match="sizes must be >= 1"):
        build_projector("linear", 0, 5)

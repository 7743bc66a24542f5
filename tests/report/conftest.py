"""Fixtures of the report tests: tiny saved LM folders (:mod:`.helpers`) and random encoder tokens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from .helpers import make_lm_folder


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: the tiny models' ops are latency-bound, and on a busy 2-core machine two threads wait on each
    other (measured 7x slower); results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def lm_folders(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``lm_folders(family)`` -> a saved tiny LM folder (built once per session)."""
    cache: dict[str, Path] = {}

    def get(family: str = "gpt2") -> Path:
        if family not in cache:
            cache[family] = make_lm_folder(tmp_path_factory.mktemp(f"lm_{family}"), family)
        return cache[family]

    return get


@pytest.fixture
def features() -> Callable[[int, int, int], torch.Tensor]:
    """``features(b, n, d)``: seeded random encoder tokens."""

    def make(b: int = 2, n: int = 4, d: int = 16, seed: int = 0) -> torch.Tensor:
        return torch.from_numpy(np.random.default_rng(seed).standard_normal((b, n, d)).astype(np.float32))

    return make

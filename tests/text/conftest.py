"""Fixtures for tests/text: a corpus of hand-written report sentences, one torch thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from text_tiny import SENTENCES


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run far faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def corpus() -> list[str]:
    return SENTENCES * 4

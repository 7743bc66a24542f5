"""Shared pytest configuration: the ``slow`` marker and ``--runslow``; deterministic torch threads.

Fixtures specific to a subpackage live in that test folder's own ``conftest.py``.
"""

from __future__ import annotations

import pytest
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    """Every test starts from the same global torch seed, so random-init models are reproducible."""
    torch.manual_seed(0)

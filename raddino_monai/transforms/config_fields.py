"""One way to accept a transform config as the dataclass, a mapping of its fields (bundle JSON) or ``None``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["config_from_fields"]

C = TypeVar("C")


def config_from_fields(cls: type[C], config: C | Mapping[str, Any] | None, default: Callable[[], C] | None = None) -> C:
    """``config`` as a ``cls`` instance.

    Args:
        cls: a config dataclass.
        config: an instance (returned as is), a mapping of its fields, or ``None``.
        default: builds the config for ``None`` (default: ``cls()``).

    Raises:
        ValueError: unknown fields (valid fields listed).

    Example:
        >>> @dataclasses.dataclass
        ... class Cfg:
        ...     size: int = 2
        >>> config_from_fields(Cfg, {"size": 3}).size
        3
    """
    if config is None:
        return (default or cls)()
    if isinstance(config, cls):
        return config
    valid = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(config) - valid)  # type: ignore[arg-type]
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} field(s) {unknown}; valid fields are {sorted(valid)}.")
    return cls(**config)  # type: ignore[arg-type]

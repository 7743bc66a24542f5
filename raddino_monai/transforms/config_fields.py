"""One way to accept a config dataclass as the instance, a mapping of its fields (bundle JSON) or ``None``
(:func:`config_from_fields`), and one way to replace named fields with the names checked (:func:`replace_fields`).
Every config of the package (transforms, models, ssl recipes, text builders) goes through these two, so an unknown
field always gives the same message with the valid names."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["config_from_fields", "replace_fields"]

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
    _check_fields(cls, config, cls.__name__)
    return cls(**dict(config))  # type: ignore[arg-type]


def replace_fields(config: C, changes: Mapping[str, Any], name: str | None = None) -> C:
    """``dataclasses.replace(config, **changes)`` with the field names checked first.

    Args:
        config: a dataclass instance.
        changes: field -> new value.
        name: what the error message calls the config (default: its class name).

    Raises:
        ValueError: unknown fields (valid fields listed).

    Example:
        >>> Pair = dataclasses.make_dataclass("Pair", [("a", int, 1), ("b", int, 2)])
        >>> replace_fields(Pair(), {"b": 5})
        Pair(a=1, b=5)
    """
    _check_fields(type(config), changes, name or type(config).__name__)
    return dataclasses.replace(config, **dict(changes))  # type: ignore[type-var]


def _check_fields(cls: type, values: Mapping[str, Any], name: str) -> None:
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"Unknown {name} field(s) {unknown}; valid fields are {sorted(valid)}.")

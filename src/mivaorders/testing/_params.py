"""Miva's parameter lookup: iteration, then operation, then the top level of the body; names ignore case."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Params"]


class Params:
    """A read-only view of one function call's parameters, as json.mvc resolves them.

    ``layers`` go from innermost (the current iteration) to outermost (the top level of the body).
    Names match case-insensitively; the first layer that has a name wins.
    """

    __slots__ = ("_layers",)

    def __init__(self, *layers: Mapping[str, Any]) -> None:
        self._layers = tuple({key.lower(): value for key, value in layer.items()} for layer in layers)

    def get(self, name: str, default: Any = None) -> Any:
        key = name.lower()
        for layer in self._layers:
            if key in layer:
                return layer[key]
        return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(name.lower() in layer for layer in self._layers)

    def __getitem__(self, name: str) -> Any:
        key = name.lower()
        for layer in self._layers:
            if key in layer:
                return layer[key]
        raise KeyError(name)

    def __repr__(self) -> str:
        # Never print values: a Passphrase can be among them.
        names = sorted({key for layer in self._layers for key in layer})
        return f"Params(names={names})"

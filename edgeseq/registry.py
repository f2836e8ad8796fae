"""A small generic registry: builders registered by name, duplicates refused, typos get a suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from edgeseq.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to builder callables.

    >>> backbones = Registry("backbone")
    >>> @backbones.register("tiny")
    ... def tiny(**kw): ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Callable[..., T]] = {}
        self._docs: dict[str, str] = {}

    def register(self, name: str, doc: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers ``fn`` under ``name``; a duplicate name raises ValueError."""

        def deco(fn: Callable[..., T]) -> Callable[..., T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = fn
            first_line = ((fn.__doc__ or "").strip().splitlines() or [""])[0]
            self._docs[name] = doc if doc is not None else first_line
            return fn

        return deco

    def get(self, name: str) -> Callable[..., T]:
        """Return the builder registered as ``name``, or raise ConfigError with the valid names."""
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        """The error text for an unknown name: the valid choices and the closest match."""
        close = difflib.get_close_matches(str(name), self._items, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; expected one of: {', '.join(sorted(self._items))}"

    def describe(self, name: str) -> str:
        """The first docstring line of a registered builder."""
        return self._docs.get(name, "")

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

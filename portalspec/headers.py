"""One case-insensitive, ordered, immutable header list, for requests and responses alike.

HTTP header names are case-insensitive; their order and repeats matter on the wire. So a
:class:`Headers` is a tuple of ``(name, value)`` pairs — it iterates, compares and pickles as
one — with lookups that ignore the case of names. Every header lookup in portalspec goes
through it instead of a hand-written loop.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Tuple, Union, overload

Pairs = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
_JSON_TYPE = re.compile(r"application/([A-Za-z0-9.!#$&^_-]+\+)?json\s*(;.*)?", re.IGNORECASE | re.DOTALL)


def is_json_type(value: str) -> bool:
    """A Content-Type of the JSON family: ``application/json`` or ``application/<x>+json``
    (JSON:API's ``application/vnd.api+json``), with parameters (``; charset=utf-8``)."""
    return _JSON_TYPE.fullmatch(value.strip()) is not None


class Headers(Tuple[Tuple[str, str], ...]):
    __slots__ = ()

    def __new__(cls, pairs: Pairs = ()) -> "Headers":
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        return super().__new__(cls, ((str(k), str(v)) for k, v in items))

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (any case), or ``default``."""
        lowered = name.lower()
        return next((v for k, v in self if k.lower() == lowered), default)

    def get_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for k, v in self if k.lower() == lowered]

    def has(self, name: str) -> bool:
        lowered = name.lower()
        return any(k.lower() == lowered for k, _ in self)

    def set(self, name: str, value: str) -> "Headers":
        """A copy where ``name`` (any case) has only ``value``, spelled ``name``, at the end."""
        lowered = name.lower()
        return Headers([*((k, v) for k, v in self if k.lower() != lowered), (name, value)])

    def names(self) -> frozenset[str]:
        """The names present, lowercased."""
        return frozenset(k.lower() for k, _ in self)

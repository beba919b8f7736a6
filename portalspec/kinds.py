"""Endpoint kinds: the table of the endpoints a definition may have.

One entry per kind says which definition ``type`` needs it, which users it carries, which
scoped variables it may use, and how ``portalspec serve`` answers it. The checks, the
variable table, the compiler, the bound request builder, serve and sync all read this table,
so adding a kind means adding an entry here (plus the schema and the docs).

This module is the bottom of the pipeline: it imports nothing from portalspec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

# A user's operation: entering the cohort (add) or leaving it (remove).
ADD, REMOVE = "add", "remove"

TYPES = ("list", "property")


@dataclass(frozen=True)
class EndpointKind:
    name: str
    type: str  # the definition type that needs this endpoint (and the only one that may have it)
    operations: tuple[str, ...]  # the users it carries; () for an endpoint that carries none
    list_scoped: bool  # it sends to the list create_list made, so it may use $list_id
    answer: str  # how serve answers it: "find", "create", "add", "remove" or "update"
    summary: str
    optional: bool = False  # a definition of its type may leave it out

    @property
    def batch(self) -> bool:
        """It carries a batch of users: a payload with ``$items``, an item template, a batch size."""
        return bool(self.operations)


KINDS: Mapping[str, EndpointKind] = {k.name: k for k in (
    EndpointKind("find_list", "list", (), False, "find",
                 "finds the cohort's list when it exists already (before creating, and after an exists_on "
                 "status); its response holds the list id", optional=True),
    EndpointKind("create_list", "list", (), False, "create",
                 "creates the destination's list for a cohort; its response holds the list id"),
    EndpointKind("add_users", "list", (ADD,), True, "add", "adds users entering the cohort to the list"),
    EndpointKind("remove_users", "list", (REMOVE,), True, "remove", "removes users leaving the cohort from the list"),
    EndpointKind("update_users", "property", (ADD, REMOVE), False, "update",
                 "sets the cohort's true/false trait on users entering and leaving it"),
)}

ENDPOINTS = tuple(KINDS)  # in the order of a sync: find, create, then add, then remove
BATCH_ENDPOINTS = tuple(name for name, kind in KINDS.items() if kind.batch)
LIST_SCOPED = tuple(name for name, kind in KINDS.items() if kind.list_scoped)


def endpoints_of(type_: str) -> tuple[str, ...]:
    """The endpoints a definition of ``type_`` must have (the only ones it may have are these
    and the optional ones of its type)."""
    return tuple(name for name, kind in KINDS.items() if kind.type == type_ and not kind.optional)


def endpoint_for(type_: str, operation: str) -> str:
    """Where a definition of ``type_`` sends users of ``operation``."""
    return next(name for name, kind in KINDS.items() if kind.type == type_ and operation in kind.operations)


def creates_list(type_: str) -> bool:
    """A definition of ``type_`` creates a list first, and its batches carry ``$list_id``."""
    return any(kind.type == type_ and kind.answer == "create" for kind in KINDS.values())


def spoken(names: tuple[str, ...]) -> str:
    """``a``, ``a and b``, ``a, b and c``: names in a sentence."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

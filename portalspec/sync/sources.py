"""Where a sync's membership comes from: a cohort file, read as member keys.

Files: the Amplitude cohort export CSV (quoted ``amplitude_id,user_id[,props…]``, gzip
accepted), JSON lines (as the renderer reads them) and a plain id list (one id a line, for a
definition with one mapping variable). A membership is a snapshot — everyone in the cohort —
so every user in it is entering; ``remove`` rows make no sense here and are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator

from ..diagnostics import InputError
from ..inputs import UserSource, open_text, read_users
from ..model import Definition
from ..values import ADD, Values
from .engine import member_key


@dataclass
class Membership:
    """Member keys read lazily from a file; ``skipped`` counts users that cannot be sent."""

    name: str
    users: UserSource | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def skipped_count(self) -> int:
        return self.users.skipped_count if self.users else 0

    @property
    def skipped(self) -> list[str]:
        return self.users.skipped if self.users else []

    def __iter__(self) -> Iterator[str]:
        if self.users is None:
            return iter(self.lines)
        return self._keys()

    def _keys(self) -> Iterator[str]:
        assert self.users is not None
        for user in self.users:
            if user.operation != ADD:
                raise InputError(f"{self.name}: user {user.ref} is '{user.operation}', but a sync reads the whole "
                                 "cohort (everyone in it); remove the operation column or those rows")
            yield member_key(list(user.values.values()))


def read_membership(path: str | os.PathLike[str], definition: Definition, values: Values) -> Membership:
    name = os.fspath(path)
    try:
        return Membership(name, users=read_users(name, definition, values))
    except InputError as exc:
        if "unrecognised users file" not in str(exc):
            raise
    # A plain id list: one id per line.
    if len(definition.mapping_fields) != 1:
        raise InputError(f"{name}: a plain id list needs a definition with exactly one mapping variable "
                         f"({definition.name} has {len(definition.mapping_fields)}); use a cohort export CSV")
    with open_text(name) as handle:
        ids = [line.strip() for line in handle if line.strip()]
    return Membership(name, lines=ids)

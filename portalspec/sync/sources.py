"""Where a sync's membership comes from: a cohort file, read as users.

Files: any shape of :data:`portalspec.inputs.SHAPES` — the Amplitude cohort export CSV (quoted
``amplitude_id,user_id[,props…]``, gzip accepted), JSON lines (as the renderer reads them), a
plain id list (one id a line, for a definition with one mapping variable) and the portal's
test CSV. A membership is a snapshot — everyone in the cohort — so every user in it is
entering; ``remove`` rows make no sense here and are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

from ..diagnostics import InputError
from ..inputs import SHAPES, read_users
from ..model import Definition
from ..values import ADD, User, UserSource, Values


@dataclass
class Membership:
    """A cohort's members read lazily from a file; ``skipped`` counts users that cannot be sent."""

    name: str
    source: UserSource

    @property
    def skipped_count(self) -> int:
        return self.source.skipped_count

    @property
    def skipped(self) -> list[str]:
        return self.source.skipped

    def __iter__(self) -> Iterator[User]:
        return self.users()

    def users(self) -> Iterator[User]:
        """The members as users, each with its ``key`` (identity); a ``remove`` row is refused."""
        for user in self.source:
            if user.operation != ADD:
                raise not_whole(user.ref, user.operation, self.name)
            yield user


def not_whole(ref: str, operation: str, name: str = "") -> InputError:
    """The error for a user whose row says ``operation`` (not add) where a whole cohort is read."""
    return InputError(f"{name + ': ' if name else ''}user {ref} is '{operation}', but a sync reads the whole "
                      "cohort (everyone in it); remove the operation column or those rows")


def read_membership(path: str | os.PathLike[str], definition: Definition, values: Values) -> Membership:
    """Open a cohort file of any shape a sync reads (every shape, a plain id list included)."""
    name = os.fspath(path)
    return Membership(name, read_users(name, definition, values, shapes=SHAPES))

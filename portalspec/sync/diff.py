"""The difference between the cohort now and the membership the destination holds.

Set lookups driven by C iterators (``filterfalse`` over ``set.__contains__``) so a 2,000,000-id
cohort diffs at the speed of a plain set difference, while entering users keep the cohort's
order (batches go out in input order) and duplicates in the input count once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import filterfalse
from typing import Callable, Collection, Iterable


@dataclass(frozen=True)
class Difference:
    entering: list[str]  # in the cohort now, not yet delivered — in cohort order
    leaving: list[str]  # delivered before, no longer in the cohort
    # entering key -> the held key of the same user it replaces (the user's other mapped
    # values changed): re-sent as an add, never removed.
    replaces: dict[str, str] = field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        return not self.entering and not self.leaving


def difference(current: Iterable[str], held: Collection[str]) -> Difference:
    """``current``: the cohort's member keys (any iterable, duplicates allowed);
    ``held``: what the destination is known to hold (a set, or anything iterable)."""
    items = current if isinstance(current, (list, tuple)) else list(current)
    now = set(items)
    held_set = held if isinstance(held, (set, frozenset)) else set(held)
    # Only the entering few are de-duplicated in order; leaving is a C set difference, sorted
    # so that a run is reproducible (set order changes with every process's hash seed).
    entering = list(dict.fromkeys(filterfalse(held_set.__contains__, items)))
    leaving = sorted(held_set - now)
    return Difference(entering, leaving)


def difference_by_identity(current: Iterable[str], held: Collection[str],
                           identity: Callable[[str], str]) -> Difference:
    """Like :func:`difference` for keys that carry more than a user's identity (several mapping
    variables): a user whose other values changed is *entering* (an add sends the new values)
    and *not leaving* — adds go out before removes, and removing the old key would remove the
    very user just added."""
    now: dict[str, str] = {}
    for key in current:
        now.setdefault(identity(key), key)
    before = {identity(key): key for key in held}
    entering, replaces = [], {}
    for user, key in now.items():
        old = before.get(user)
        if old != key:
            entering.append(key)
            if old is not None:
                replaces[key] = old
    leaving = sorted(key for user, key in before.items() if user not in now)
    return Difference(entering, leaving, replaces)


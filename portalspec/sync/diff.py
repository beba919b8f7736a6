"""The difference between the cohort now and the membership the destination holds.

Set lookups driven by C iterators (``filterfalse`` over ``set.__contains__``) so a 2,000,000-id
cohort diffs at the speed of a plain set difference, while entering users keep the cohort's
order (batches go out in input order) and duplicates in the input count once.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import filterfalse
from typing import Collection, Iterable


@dataclass(frozen=True)
class Difference:
    entering: list[str]  # in the cohort now, not yet delivered — in cohort order
    leaving: list[str]  # delivered before, no longer in the cohort

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

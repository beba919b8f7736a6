"""Batching: users (one at a time, or column-wise in :class:`~portalspec.values.Members` blocks)
→ column-wise :class:`Batch` es of at most ``batch_size``.

Entering users are batched as they arrive; leaving users are held and batched after them,
since Amplitude sends every entering batch first. A batch never mixes the two, keeps input
order, and the union of all batches is exactly the input. Columns (one list per mapping
variable) rather than rows, so the renderer's fast path maps a C encoder over a list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence, Union

from .diagnostics import InputError
from .values import ADD, REMOVE, Members, User, UserSource


@dataclass(frozen=True)
class Batch:
    operation: str  # add | remove
    columns: Mapping[str, Sequence[Any]]  # mapping variable -> one value per user
    size: int
    refs: Mapping[int, str] = field(default_factory=dict)  # index -> how messages name that user
    # (first index, refs) of each run of column-wise members that carried refs (Members.refs)
    runs: tuple[tuple[int, Sequence[str]], ...] = ()

    def ref(self, i: int) -> str:
        if self.refs.get(i):
            return self.refs[i]
        for start, refs in reversed(self.runs):
            if start <= i:
                if i - start < len(refs) and refs[i - start]:
                    return refs[i - start]
                break
        first = next(iter(self.columns.values()), None)
        return f"#{i + 1} of its batch" + (f" ({first[i]!r})" if first is not None else "")

    def row(self, i: int) -> dict[str, Any]:
        return {name: column[i] for name, column in self.columns.items()}

    def slice(self, start: int, stop: int) -> "Batch":
        """Users ``start`` to ``stop`` as a batch of their own (a batch split by size)."""
        return Batch(self.operation, {name: column[start:stop] for name, column in self.columns.items()},
                     stop - start, {i - start: self.ref(i) for i in range(start, stop)})


class _Filling:
    def __init__(self, operation: str, variables: Sequence[str]):
        self.operation = operation
        self.columns: dict[str, list[Any]] = {v: [] for v in variables}
        self.refs: dict[int, str] = {}  # sparse: users one by one
        self.runs: list[tuple[int, Sequence[str]]] = []  # column-wise members' refs, by where they start
        self.size = 0

    def take_user(self, user: User) -> None:
        for name, column in self.columns.items():
            try:
                column.append(user.values[name])
            except KeyError:
                raise InputError(f"user {user.ref or dict(user.values)}: no value for ${name}") from None
        if user.ref:
            self.refs[self.size] = user.ref
        self.size += 1

    def take_slice(self, members: Members, start: int, stop: int) -> None:
        for name, column in self.columns.items():
            piece = members.columns[name][start:stop]
            if self.size:
                column.extend(piece)
            else:  # an empty batch takes the slice itself: one copy of the ids, not two
                self.columns[name] = piece if isinstance(piece, list) else list(piece)
        if members.refs is not None:
            self.runs.append((self.size, members.refs[start:stop]))
        self.size += stop - start

    def done(self) -> Batch:
        return Batch(self.operation, self.columns, self.size, self.refs, tuple(self.runs))


UserInput = Union[User, Members]


def batches(users: Iterable[UserInput], sizes: Mapping[str, int], variables: Sequence[str],
            wanted: frozenset[str] = frozenset((ADD, REMOVE))) -> Iterator[Batch]:
    """Entering batches as they fill, then leaving batches, each at most ``sizes[operation]``.

    A users file read column-wise (:attr:`UserSource.columnar`) is taken as its blocks."""
    if isinstance(users, UserSource) and users.columnar:
        users = users.blocks(max(sizes.values()))
    filling = {op: _Filling(op, variables) for op in (ADD, REMOVE)}
    leaving: list[Batch] = []

    def finish(op: str) -> Batch | None:
        """The batch, if ``op``'s is full (a leaving one is held back, returning None)."""
        if filling[op].size < sizes[op]:
            return None
        batch, filling[op] = filling[op].done(), _Filling(op, variables)
        if op == ADD:
            return batch
        leaving.append(batch)
        return None

    for item in users:
        op = item.operation
        if op not in wanted:
            if op not in (ADD, REMOVE):
                raise InputError(f"user {getattr(item, 'ref', '') or item}: operation must be 'add' or 'remove'")
            continue
        if isinstance(item, Members):
            missing = [v for v in variables if v not in item.columns]
            if missing:
                raise InputError(f"members block has no column for {', '.join('$' + m for m in missing)}")
            start, total = 0, item.size
            while start < total:
                stop = min(total, start + sizes[op] - filling[op].size)
                filling[op].take_slice(item, start, stop)
                start = stop
                if (batch := finish(op)) is not None:
                    yield batch
        else:
            filling[op].take_user(item)
            if (batch := finish(op)) is not None:
                yield batch
    if filling[ADD].size:
        yield filling[ADD].done()
    yield from leaving
    if filling[REMOVE].size:
        yield filling[REMOVE].done()

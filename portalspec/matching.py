"""Reading a received body back through its payload template: rendering, inverted.

A compiled JSON :class:`~portalspec.template.Template` becomes a matcher tree: each slot is
replaced by a sentinel and the text parsed as JSON, so the tree has the template's exact
structure. Then:

- literal JSON values must be equal (strictly: a destination's contract is exact, and a sender
  that drifts from its own template is what ``serve`` exists to catch; ``1`` and ``1.0`` are
  equal, ``true`` and ``1`` are not);
- object keys must match: literal keys must be present, keys holding a variable match by
  pattern, and a key the template does not have is a mismatch;
- a string holding variables becomes a pattern, a JSON-value slot captures any value —
  ``$items`` must be an array whose elements match the item template, ``$amp_in_cohort`` a
  boolean.

Variables whose value is known (the values file's fields) must have that value. A variable
seen twice must have the same value both times: each item's mapping variables are bound per
item, everything else once per request. Strings with several variables are ambiguous
(``"$a: $b"`` when a value contains ``": "``), so they are resolved last, after every value
seen whole has pinned what it can.

Every mismatch is a :class:`~portalspec.diagnostics.PayloadMismatch` naming where
(``$.userIds[3]``), what was expected and what came.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, NoReturn, Sequence, Union, overload

from .diagnostics import InputError, PathElement, PayloadMismatch, excerpt, format_path
from .template import Position, Template, as_text

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: no template spells them
_SENTINEL = re.compile(f"{_OPEN}([vs])(\\d+){_CLOSE}")
_MISSING = object()
_SHOW_LIMIT = 60

Path = tuple[PathElement, ...]


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Capture:
    """A JSON-value slot: any value (``$items`` an array, ``$amp_in_cohort`` a boolean)."""

    name: str


@dataclass(frozen=True)
class Pattern:
    """A string holding variables, e.g. ``"[Amplitude] $amp_cohort_name: $amp_cohort_id"``."""

    parts: tuple[Union[str, Var], ...]

    @property
    def display(self) -> str:
        return json.dumps("".join(p if isinstance(p, str) else f"${p.name}" for p in self.parts),
                          ensure_ascii=False)

    @property
    def whole(self) -> str | None:
        """The variable's name when the string is one variable and nothing else."""
        only = self.parts[0] if len(self.parts) == 1 else None
        return only.name if isinstance(only, Var) else None

    @property
    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, Var))

    def regex(self, bound: Mapping[str, Any] = {}) -> tuple[str, dict[str, str]]:
        """The pattern as a regex: bound variables as their text, others as groups (named
        ``g0``… → variable; a variable repeated is a back-reference, so it must repeat)."""
        out: list[str] = []
        groups: dict[str, str] = {}
        for part in self.parts:
            if isinstance(part, str):
                out.append(re.escape(part))
            elif part.name in bound:
                out.append(re.escape(as_text(bound[part.name])))
            elif part.name in groups:
                out.append(f"(?P={groups[part.name]})")
            else:
                groups[part.name] = f"g{len(groups)}"
                out.append(f"(?P<{groups[part.name]}>.*?)")
        return "".join(out), groups


@dataclass(frozen=True)
class Obj:
    keys: tuple[tuple[str, "Node"], ...]  # literal keys
    patterns: tuple[tuple[Pattern, "Node"], ...]  # keys holding a variable


@dataclass(frozen=True)
class Arr:
    elements: tuple["Node", ...]


Node = Union[Literal, Capture, Pattern, Obj, Arr]


def _pattern(text: str, names: list[str]) -> Pattern:
    pieces = _SENTINEL.split(text)  # literal, kind, index, literal, kind, index, …
    parts: list[Union[str, Var]] = []
    for i in range(0, len(pieces), 3):
        if pieces[i]:
            parts.append(pieces[i])
        if i + 2 < len(pieces):
            parts.append(Var(names[int(pieces[i + 2])]))
    return Pattern(tuple(parts))


def _node(value: Any, names: list[str]) -> Node:
    if isinstance(value, str):
        found = _SENTINEL.fullmatch(value)
        if found and found.group(1) == "v":
            return Capture(names[int(found.group(2))])
        return _pattern(value, names) if _OPEN in value else Literal(value)
    if isinstance(value, dict):
        keys = tuple((k, _node(v, names)) for k, v in value.items() if _OPEN not in k)
        patterns = tuple((_pattern(k, names), _node(v, names)) for k, v in value.items() if _OPEN in k)
        return Obj(keys, patterns)
    if isinstance(value, list):
        return Arr(tuple(_node(v, names) for v in value))
    return Literal(value)


def compile_node(template: Template) -> Node:
    """The matcher tree of a JSON template."""
    text: list[str] = []
    names: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            text.append(part)
            continue
        kind = "v" if part.position is Position.JSON_VALUE else "s"
        sentinel = f"{_OPEN}{kind}{len(names)}{_CLOSE}"
        text.append(f'"{sentinel}"' if kind == "v" else sentinel)
        names.append(part.name)
    try:
        return _node(json.loads("".join(text)), names)
    except (ValueError, RecursionError) as exc:
        # The checks guarantee JSON once substituted; say so rather than fail obscurely if not.
        raise InputError(f"{template.where} is not a JSON template that can be matched: {exc}") from None


def _show(value: Any, redact: Callable[[str], str] | None = None) -> str:
    """A value for a message, cut short; ``redact`` (a masker) runs before the cut."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return excerpt(text, _SHOW_LIMIT, redact=redact, fold_space=False)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, but a boolean is never a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)


def same_value(a: Any, b: Any) -> bool:
    """Two sightings of one variable agree: equal as JSON, or — when one was read from text
    (a URL, inside a string) — equal as text."""
    return json_equal(a, b) or ((isinstance(a, str) or isinstance(b, str)) and as_text(a) == as_text(b))


def _describe(node: Node) -> str:
    if isinstance(node, Literal):
        return _show(node.value)
    if isinstance(node, Capture):
        return "an array ($items)" if node.name == "items" else f"a value (${node.name})"
    if isinstance(node, Pattern):
        return f"a string like {node.display}"
    if isinstance(node, Obj):
        return "an object"
    return f"an array of {len(node.elements)}"


class Column(Sequence[Mapping[str, Any]]):
    """Items of one variable each, ``{name: value}``, kept as the column of values: the common
    ``$items`` of one string each is read without a dict per item (a reader that wants the
    values takes :attr:`values`)."""

    def __init__(self, name: str, values: list[Any]):
        self.name = name
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, i: int) -> Mapping[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Mapping[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        if isinstance(i, slice):
            return Column(self.name, self.values[i])
        return {self.name: self.values[i]}

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        name = self.name
        return ({name: value} for value in self.values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self) -> str:
        return f"Column({self.name!r}, {self.values!r})"


@dataclass(frozen=True)
class Captured:
    """What a body carried: request-level variables (known ones included) and, per item of
    ``$items``, the item's own variables (mapping variables, ``$amp_in_cohort``…)."""

    values: Mapping[str, Any]
    items: Sequence[Mapping[str, Any]] | None  # a tuple, or a Column for items of one string each


@dataclass(frozen=True)
class PayloadMatcher:
    """Matches bodies against one endpoint's payload (and item) template."""

    where: str
    root: Node
    item: Node | None
    item_variables: frozenset[str]
    secrets: frozenset[str]
    optional: frozenset[str] = frozenset()  # identifiers whose member an item may leave out

    @classmethod
    def compile(cls, payload: Template, item: Template | None = None, *,
                item_variables: frozenset[str] = frozenset(), secrets: frozenset[str] = frozenset(),
                optional: frozenset[str] = frozenset()) -> "PayloadMatcher":
        return cls(payload.where, compile_node(payload), compile_node(item) if item is not None else None,
                   frozenset(item_variables) | {"amp_in_cohort", "amp_operation"}, frozenset(secrets),
                   frozenset(optional))

    def match(self, document: Any, known: Mapping[str, Any] = {}, hints: Mapping[str, Any] = {}, *,
              redact: Callable[[str], str] | None = None) -> Captured:
        """The variables ``document`` carries; raises :class:`PayloadMismatch` if it does not fit.
        ``known`` are values the body must carry (the values file's fields, a URL's list id);
        ``hints`` are likely values (the values file's cohort) that only settle how an ambiguous
        string splits — a body that does not carry them still matches. ``redact`` masks the
        values a mismatch quotes, before they are cut short."""
        run = _Run(self, known, hints, redact)
        run.walk(self.root, document, (), None)
        run.resolve()
        items = run.column if run.column is not None else tuple(run.items) if run.items is not None else None
        return Captured(run.scope, items)


class _Run:
    """One match: bindings grow as the walk goes; ambiguous strings wait in ``deferred``."""

    def __init__(self, matcher: PayloadMatcher, known: Mapping[str, Any], hints: Mapping[str, Any],
                 redact: Callable[[str], str] | None = None):
        self.matcher = matcher
        self.redact = redact
        self.hints = hints
        self.scope: dict[str, Any] = dict(known)
        self.items: list[dict[str, Any]] | None = None
        self.column: Column | None = None  # the items, when they are one string each
        self.deferred: list[tuple[Path, Pattern, str, dict[str, Any] | None, str]] = []

    def fail(self, path: Path, expected: str, got: str, secret: bool = False) -> NoReturn:
        if secret:
            got = "a different value (not shown: it is secret)"
        raise PayloadMismatch(format_path(path), expected, got, secret)

    def show(self, value: Any) -> str:
        return _show(value, self.redact)

    def lookup(self, name: str, item: dict[str, Any] | None) -> Any:
        if item is not None and name in item:
            return item[name]
        return self.scope.get(name, _MISSING)

    def bind(self, name: str, value: Any, path: Path, item: dict[str, Any] | None) -> None:
        current = self.lookup(name, item)
        if current is _MISSING:
            target = item if item is not None and name in self.matcher.item_variables else self.scope
            target[name] = value
        elif not same_value(current, value):
            secret = name in self.matcher.secrets
            shown = f"${name}" if secret else f"{self.show(current)} (${name})"
            self.fail(path, shown, self.show(value), secret)

    def walk(self, node: Node, value: Any, path: Path, item: dict[str, Any] | None) -> None:
        if isinstance(node, Literal):
            if not json_equal(node.value, value):
                self.fail(path, self.show(node.value), self.show(value))
        elif isinstance(node, Capture):
            self.capture(node.name, value, path, item)
        elif isinstance(node, Pattern):
            if not isinstance(value, str):
                self.fail(path, _describe(node), self.show(value))
            self.string(node, value, path, item, "a string like")
        elif isinstance(node, Obj):
            self.object(node, value, path, item)
        else:
            if not isinstance(value, list) or len(value) != len(node.elements):
                self.fail(path, _describe(node), self.show(value))
            for i, (child, element) in enumerate(zip(node.elements, value)):
                self.walk(child, element, path + (i,), item)

    def _optional(self, node: Node) -> bool:
        name = node.name if isinstance(node, Capture) else node.whole if isinstance(node, Pattern) else None
        return name is not None and name in self.matcher.optional

    def string(self, node: Pattern, value: str, path: Path, item: dict[str, Any] | None, what: str) -> None:
        whole = node.whole
        if whole is not None:
            self.bind(whole, value, path, item)
        else:
            self.deferred.append((path, node, value, item, what))

    def capture(self, name: str, value: Any, path: Path, item: dict[str, Any] | None) -> None:
        if name == "item" and item is None and self.matcher.item is not None:  # a per-user endpoint's one item
            self.items = [{}]
            self.walk(self.matcher.item, value, path, self.items[0])
            return
        if name == "items" and item is None:
            if not isinstance(value, list):
                self.fail(path, "an array of items ($items)", self.show(value))
            self.items = []
            if self.matcher.item is None:
                return
            only = self.matcher.item.whole if isinstance(self.matcher.item, Pattern) else None
            if only is not None and only in self.matcher.item_variables and only not in self.scope \
                    and {type(element) for element in value} <= {str}:
                # The common item, one string holding one variable ("$user_id"): what walking
                # each element would bind, without walking them one by one.
                self.column = Column(only, value)
                return
            for i, element in enumerate(value):
                scope: dict[str, Any] = {}
                self.items.append(scope)
                self.walk(self.matcher.item, element, path + (i,), scope)
            return
        if name == "amp_in_cohort" and not isinstance(value, bool):
            self.fail(path, "true or false ($amp_in_cohort)", self.show(value))
        self.bind(name, value, path, item)

    def object(self, node: Obj, value: Any, path: Path, item: dict[str, Any] | None) -> None:
        if not isinstance(value, dict):
            self.fail(path, "an object", self.show(value))
        for key, child in node.keys:
            if key not in value:
                if item is not None and self._optional(child):
                    continue  # a user without this optional identifier: the member is left out
                self.fail(path + (key,), _describe(child), "nothing: the key is missing")
            self.walk(child, value[key], path + (key,), item)
        literal = {k for k, _ in node.keys}
        rest = [k for k in value if k not in literal]
        for pattern, child in node.patterns:
            regex, _ = pattern.regex()
            found = next((k for k in rest if re.fullmatch(regex, k, re.DOTALL)), None)
            if found is None:
                self.fail(path, f"a key like {pattern.display}", f"keys {self.show(sorted(value))}")
            rest.remove(found)
            self.string(pattern, found, path + (found,), item, "a key like")
            self.walk(child, value[found], path + (found,), item)
        if rest:
            self.fail(path + (rest[0],), "no such key (the template has none here)", self.show(value[rest[0]]))

    def resolve(self) -> None:
        # Request-level strings first, then each item's in turn; within a group, the string
        # with the fewest unbound variables first, since it pins values for the others.
        ordered = sorted(self.deferred, key=lambda d: d[3] is not None)  # stable: items stay together
        for _, group in itertools.groupby(ordered, key=lambda d: id(d[3]) if d[3] is not None else 0):
            pending = list(group)
            while pending:
                pending.sort(key=lambda d: sum(self.lookup(n, d[3]) is _MISSING for n in d[1].names))
                self.resolve_one(*pending.pop(0))

    def resolve_one(self, path: Path, pattern: Pattern, text: str, item: dict[str, Any] | None, what: str) -> None:
        bound = {n: v for n in pattern.names if (v := self.lookup(n, item)) is not _MISSING}
        hinted = {n: self.hints[n] for n in pattern.names if n in self.hints and n not in bound}
        found = None
        if hinted:
            regex, groups = pattern.regex({**bound, **hinted})
            found = re.fullmatch(regex, text, re.DOTALL)
            if found is not None:
                for name in hinted:
                    self.bind(name, self.hints[name], path, item)
        if found is None:
            regex, groups = pattern.regex(bound)
            found = re.fullmatch(regex, text, re.DOTALL)
        if found is None:
            secret = bool(pattern.names & self.matcher.secrets)
            shown = [f"${n} = {self.show(v)}" for n, v in bound.items() if n not in self.matcher.secrets]
            self.fail(path, f"{what} {pattern.display}" + (f" with {', '.join(shown)}" if shown else ""),
                      self.show(text), secret)
        for name, group in groups.items():
            self.bind(name, found.group(group), path, item)


def match_text(template: Template, text: str, known: Mapping[str, Any] = {}) -> dict[str, Any] | None:
    """The variables in ``text`` read through a text template (a header value), known
    variables required to have their values; None if it does not fit."""
    pattern = Pattern(tuple(p if isinstance(p, str) else Var(p.name) for p in template.parts
                            if not (isinstance(p, str) and not p)))
    regex, groups = pattern.regex({n: v for n, v in known.items() if n in pattern.names})
    found = re.fullmatch(regex, text, re.DOTALL)
    return None if found is None else {name: found.group(g) for name, g in groups.items()}


__all__ = ["Captured", "PayloadMatcher", "compile_node", "json_equal", "match_text", "same_value"]

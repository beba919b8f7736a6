"""Values: what rendering and syncing are given, as plain data — no file is read here.

- :class:`Values`: what the customer types into the setup modal (``fields``), which Amplitude
  user property each mapping variable takes (``mappings``), the :class:`Cohort` and a ``list_id``;
  :func:`values_from_data` checks a parsed values file, :func:`resolve_fields` checks values
  against a definition and applies its defaults.
- :class:`User`: one user entering (``add``) or leaving (``remove``), with a value per mapping
  variable and its identity (``key``) as its source gives it; :class:`Members`: many users of
  one operation, column-wise.

Reading files (a values file, users files of every shape) is :mod:`portalspec.inputs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, overload

from .diagnostics import Diagnostic, InputError, did_you_mean
from .kinds import ADD, REMOVE
from .model import CustomField, Definition
from .template import SubstitutionError, as_text, encode_origin
from .variables import env_name

if TYPE_CHECKING:  # a type only: this module reads no file (the loader does)
    from .loader import Document

COHORT_COLUMNS = {"amp_cohort_name": "name", "amp_cohort_id": "id", "amp_cohort_url": "url"}


@dataclass(frozen=True)
class Cohort:
    id: str
    name: str
    url: str = ""


@dataclass(frozen=True)
class Values:
    """What the customer typed into the setup modal, and the cohort being synced."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, str] = field(default_factory=dict)
    cohort: Cohort | None = None
    list_id: str | int | None = None


@dataclass(frozen=True)
class User:
    """One user to sync: entering (``add``) or leaving (``remove``), with a value per mapping variable
    (typed as its source gives it: text from a CSV, any JSON value from JSON lines)."""

    operation: str
    values: Mapping[str, Any]
    ref: str = ""  # how messages name this user ("line 7", "amplitude_id 123")
    # Who the user is, as the source gives it: an export's user_id (else its amplitude_id), a
    # plain list's id; the first mapped value only when the source has nothing else (test CSV).
    # Not part of equality: two users are equal by what is sent and how messages name them.
    key: str = field(default="", compare=False)


class Refs(Sequence[str]):
    """How messages name each member of a column-wise block, made only when asked:
    ``prefix + str(items[i])`` (``Refs("line ", range(2, 10_002))``: "line 2", "line 3", …).
    Slicing slices ``items``, so a block's refs cost nothing until an error names a user."""

    __slots__ = ("prefix", "items")

    def __init__(self, prefix: str, items: Sequence[Any]):
        self.prefix, self.items = prefix, items

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> "Refs": ...

    def __getitem__(self, i: int | slice) -> "str | Refs":
        if isinstance(i, slice):
            return Refs(self.prefix, self.items[i])
        return f"{self.prefix}{self.items[i]}"

    def __repr__(self) -> str:
        return f"Refs({self.prefix!r}, {self.items!r})"


@dataclass(frozen=True)
class Members:
    """Many users of one operation given column-wise — one sequence per mapping variable.

    The shape for large cohorts (an export, a sync's difference): batching slices the
    columns instead of touching each user, and rendering maps a C encoder over them. A
    users file's reader gives its users this way, in blocks, with ``keys`` (each user's
    identity, as :attr:`User.key`) and ``refs`` (how messages name each, as :attr:`User.ref`:
    "line 7"), both optional.
    """

    operation: str
    columns: Mapping[str, Any]  # mapping variable -> sequence of values, all the same length
    keys: Sequence[str] | None = None
    refs: Sequence[str] | None = None

    def __post_init__(self) -> None:
        lengths = {len(c) for c in self.columns.values()}
        lengths.update(len(s) for s in (self.keys, self.refs) if s is not None)
        if len(lengths) > 1:
            raise InputError(f"members columns differ in length: {sorted(lengths)}")

    @property
    def size(self) -> int:
        if self.columns:
            return len(next(iter(self.columns.values())))
        return len(self.keys) if self.keys is not None else 0

    def users(self) -> Iterator[User]:
        """The members one :class:`User` each (slower: for code that wants users one by one)."""
        names = list(self.columns)
        size = self.size
        keys = self.keys if self.keys is not None else [""] * size
        refs = self.refs if self.refs is not None else [""] * size
        for i, row in enumerate(zip(*(self.columns[n] for n in names)) if names else ((),) * size):
            yield User(self.operation, dict(zip(names, row)), refs[i], keys[i])


def _error(diagnostics: list[Diagnostic]) -> InputError:
    return InputError("\n".join(d.format() for d in diagnostics))


def values_from_data(data: Any, document: Document | None = None) -> Values:
    problems: list[Diagnostic] = []

    def problem(message: str, path: tuple, hint: str | None = None) -> None:
        diag = Diagnostic("PS401", message, path=path, hint=hint)
        problems.append(document.source.locate(diag) if document else diag)

    if not isinstance(data, dict):
        problem("a values file is a mapping with fields:, mappings:, cohort: and list_id:", ())
        raise _error(problems)
    for key in data:
        if key not in ("fields", "mappings", "cohort", "list_id"):
            problem(f"unknown key '{key}'", (key,), did_you_mean(key, ["fields", "mappings", "cohort", "list_id"]))
    fields = data.get("fields") or {}
    mappings = data.get("mappings") or {}
    cohort_data = data.get("cohort")
    for key, value in (("fields", fields), ("mappings", mappings)):
        if not isinstance(value, dict):
            problem(f"'{key}' must be a mapping of variable names to values", (key,))
    if isinstance(fields, dict):
        for name, value in fields.items():
            if not isinstance(value, (str, int, float, bool)):
                problem(f"field '{name}' must be a single value (text, number or true/false)", ("fields", name))
    if isinstance(mappings, dict):
        for name, value in mappings.items():
            if not isinstance(value, str) or not value:
                problem(f"mapping '{name}' must name an Amplitude user property (e.g. user_id)", ("mappings", name))
    cohort = None
    if cohort_data is not None:
        if not isinstance(cohort_data, dict) or "id" not in cohort_data or "name" not in cohort_data:
            problem("'cohort' must be a mapping with at least id and name", ("cohort",))
        else:
            for key in cohort_data:
                if key not in ("id", "name", "url"):
                    problem(f"unknown cohort key '{key}'", ("cohort", key), did_you_mean(key, ["id", "name", "url"]))
            cohort = Cohort(str(cohort_data["id"]), str(cohort_data["name"]), str(cohort_data.get("url") or ""))
    list_id = data.get("list_id")
    if list_id is not None and (isinstance(list_id, bool) or not isinstance(list_id, (str, int))):
        problem("'list_id' must be a string or a number", ("list_id",))
    if problems:
        raise _error(problems)
    return Values(dict(fields) if isinstance(fields, dict) else {}, dict(mappings), cohort, list_id)


def resolve_fields(definition: Definition, values: Values) -> dict[str, Any]:
    """Field and auth variables with defaults applied; every problem named by display name."""
    problems: list[str] = []
    known = {f.variable for f in definition.custom_fields} | set(definition.auth.variables)
    env: dict[str, Any] = {}
    for name in values.fields:
        if name not in known:
            hint = did_you_mean(name, known)
            problems.append(f"unknown field '{name}' in the values file" + (f" ({hint})" if hint else ""))
    for var in definition.auth.declared:
        if var.name in values.fields:
            env[var.name] = values.fields[var.name]
        elif var.required:
            where = f" (or the environment variable {env_name(definition.name, var.name)})" if var.rotates else ""
            problems.append(f"missing required field '{var.display_name}' ({var.name}) for {definition.auth.method} "
                            f"auth{where}")
        else:
            env[var.name] = ""  # basic auth's secret is optional: an empty password
    for f in definition.custom_fields:
        if f.variable in values.fields:
            value = values.fields[f.variable]
            problem = _field_problem(f, value)
            if problem:
                problems.append(f"field '{f.display_name}' ({f.variable}) is {value!r}, {problem}")
            env[f.variable] = _option_value(f, value)
        elif f.default is not None:
            env[f.variable] = f.default
        else:
            problems.append(f"missing required field '{f.display_name}' ({f.variable})")
    mapping_vars = {m.variable for m in definition.mapping_fields}
    for name in values.mappings:
        if name not in mapping_vars:
            hint = did_you_mean(name, mapping_vars)
            problems.append(f"unknown mapping '{name}' in the values file" + (f" ({hint})" if hint else "")
                            + (f"; the mapping variables are {', '.join(sorted(mapping_vars))}" if mapping_vars else ""))
    for m in definition.mapping_fields:
        if m.variable not in values.mappings:
            problems.append(f"missing mapping for '{m.mapping_display_name}' ({m.variable}): "
                            f"name the Amplitude user property it takes, e.g. {m.variable}: user_id")
    if problems:
        raise InputError("values do not fit the definition:\n  " + "\n  ".join(problems))
    return env


# A column-wise reader: (block size) -> the users as Members blocks of at most that size.
Blocks = Callable[[int], Iterator[Members]]
BLOCK = 10_000  # users per block when a source is read one user at a time


@dataclass
class UserSource:
    """Users as a source gives them, lazily (a users file, say); ``cohort`` is what the file says of the cohort (test CSV);
    ``skipped`` names users that could not be sent (no value for a mapping), filled as read.

    A users file's reader gives them column-wise (``blocks``): :meth:`blocks` hands the
    :class:`Members` blocks on (what rendering and syncing read), iterating gives one
    :class:`User` each."""

    name: str
    _rows: Iterable[User]
    cohort: Cohort | None = None
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0
    _blocks: Blocks | None = None

    def __iter__(self) -> Iterator[User]:
        if self._blocks is not None:
            return (user for block in self._blocks(BLOCK) for user in block.users())
        return iter(self._rows)

    @property
    def columnar(self) -> bool:
        """Whether :meth:`blocks` hands on blocks as read (else it groups users one by one)."""
        return self._blocks is not None

    def blocks(self, size: int = BLOCK) -> Iterator[Members]:
        """The users as :class:`Members` blocks of at most ``size``, each of one operation, in order."""
        if self._blocks is not None:
            return self._blocks(size)
        return _group(iter(self._rows), size)

    def skip(self, ref: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < 5:
            self.skipped.append(f"{ref} ({reason})")


def _group(users: Iterator[User], size: int) -> Iterator[Members]:
    operation: str | None = None
    rows: list[User] = []
    for user in users:
        if rows and (user.operation != operation or len(rows) >= size):
            yield _block(operation or "", rows)
            rows = []
        operation = user.operation
        rows.append(user)
    if rows:
        yield _block(operation or "", rows)


def _block(operation: str, rows: list[User]) -> Members:
    names = list(rows[0].values)
    try:
        columns = {n: [u.values[n] for u in rows] for n in names}
    except KeyError as exc:
        raise InputError(f"users differ in their mapping variables (one has no ${exc.args[0]})") from None
    return Members(operation, columns, [u.key for u in rows], [u.ref for u in rows])


def _field_problem(field: CustomField, value: Any) -> str | None:
    """Why ``value`` does not fit ``field`` (its type, its options, an origin), or None."""
    if field.options:
        if _option_value(field, value) is _NO_OPTION:
            return "not one of its options: " + ", ".join(str(o.value) for o in field.options)
        return None
    if field.type == "boolean" and not isinstance(value, bool):
        return "not true or false"
    if field.type == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "not a number"
    if field.type == "origin":
        try:
            encode_origin(value)
        except SubstitutionError:
            return "not an origin: scheme://host[:port], http or https, without a path"
    return None


_NO_OPTION: Any = object()


def _option_value(field: CustomField, value: Any) -> Any:
    """The option ``value`` stands for, typed as the definition types it (a values file may
    write an option's text: ``"1"`` for ``1``), or ``_NO_OPTION``; the value itself when the
    field has no options."""
    if not field.options:
        return value
    for option in field.options:
        if type(option.value) is type(value) and option.value == value:
            return option.value
    for option in field.options:
        if as_text(option.value) == as_text(value):
            return option.value
    return _NO_OPTION


def unsendable(definition: Definition, variables: Sequence[str], row: Sequence[Any]) -> str | None:
    """Why a user cannot be sent: the first required identifier (mapping variable) it lacks,
    or — when it lacks every one — the first; None when it can be sent. An optional
    identifier (``required: false``) may be missing: its member is left out of the item."""
    required = {m.variable for m in definition.mapping_fields if m.required}
    missing = [v for v, value in zip(variables, row) if value is None or value == ""]
    if not missing:
        return None
    if len(missing) == len(variables):
        return missing[0]
    return next((v for v in missing if v in required), None)

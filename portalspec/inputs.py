"""Reading inputs from files: the values file, and users files of every shape.

- Values file (YAML), read by :func:`load_values` into a :class:`~portalspec.values.Values`::

      fields: {api_key: "k-123", region: eu}          # custom-field and auth variables
      mappings: {user_id_field_amplitude: user_id}    # mapping variable -> Amplitude user property
      cohort: {id: "1234", name: "Beta users", url: "https://app.amplitude.com/..."}
      list_id: "2568"                                  # optional

- Users files, read by :func:`read_users` (gzip accepted, a UTF-8 BOM ignored). Their shapes are
  a registry, :data:`SHAPES`, one :class:`Shape` each, asked in order: each shape's ``sniff``
  looks at the first line and answers :class:`Recognised` or :class:`NotThisShape` (with the
  reason, never raising); the first shape that recognises the file reads it. None: an
  :class:`~portalspec.diagnostics.InputError` names every shape and why it did not fit.

  - the portal's test CSV: ``operation,<mapping variables>[,amp_cohort_id,…]``; the key is the
    first mapping variable's value (the file has nothing else);
  - an Amplitude cohort export CSV: ``"amplitude_id","user_id"[,property…]``, everyone entering;
    the key is ``user_id``, else ``amplitude_id``;
  - JSON lines: ``{"operation": "add", "user_id": …, "user_properties": {…}}``; the key is
    ``user_id``, else ``amplitude_id``, as text;
  - a plain id list: one id per line, for a definition with one mapping variable; the key is the id.

  A key is never a mapped value unless the file names the user no other way (a test CSV, a
  plain list, or an export row or JSON line without user_id and amplitude_id).

  A plain id list is a cohort's membership only (``membership_only``): ``sync --cohort-file``
  reads it (``read_users(…, shapes=SHAPES)``), render does not (:data:`RENDER_SHAPES`, the
  default). One word per line cannot be told from a one-column CSV whose header is not
  recognised (``id``, then ids); render refuses such a file rather than send its header as a
  user, while a sync has always read it as a list of ids.

Users are read lazily, so a cohort of millions streams through rendering. A user whose mapped
value is missing is never sent with an empty id: it is counted in ``UserSource.skipped``.
Mapped values keep the type their source gives (text from a CSV, any JSON value from JSON
lines); a key is always text.

The cohort export CSV's record reader, :func:`open_export`, is also ``amplitude.read_export``'s.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import itertools
import json
import operator
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, Sequence, cast

from .diagnostics import InputError, did_you_mean
from .loader import read_document
from .model import Definition
from .values import (ADD, BLOCK, COHORT_COLUMNS, REMOVE, Cohort, Members, Refs, UserSource, Values, unsendable,
                     values_from_data)
from .variables import env_name

# --- values -----------------------------------------------------------------------------

def load_values(path: str | os.PathLike[str], definition: Definition | None = None,
                environ: Mapping[str, str] | None = None) -> Values:
    """Read a values file; every problem is reported at once with its file:line:col. With the
    ``definition``, an auth variable that may rotate (OAuth2's refresh token) and that the file
    leaves out is taken from the environment (:func:`from_environment`)."""
    document = read_document(path)
    if document.data is None or not document.ok:
        raise InputError("\n".join(d.format() for d in document.diagnostics))
    values = values_from_data(document.data, document)
    return from_environment(values, definition, os.environ if environ is None else environ) if definition else values


def from_environment(values: Values, definition: Definition, environ: Mapping[str, str]) -> Values:
    """``values`` with each rotating auth variable the values file leaves out taken from
    ``environ``, named as curl previews name secrets (``<NAME>_REFRESH_TOKEN``, see
    :func:`portalspec.variables.env_name`), so a secret store can keep it current."""
    found = {v.name: environ[env_name(definition.name, v.name)] for v in definition.auth.declared
             if v.rotates and v.name not in values.fields and environ.get(env_name(definition.name, v.name))}
    return dataclasses.replace(values, fields={**values.fields, **found}) if found else values


# --- users ------------------------------------------------------------------------------

def open_text(path: str | os.PathLike[str], *, tail: bool = False) -> IO[str]:
    """The file as text, gunzipped when it starts with gzip's magic bytes; with ``tail`` its
    binary layer (``.buffer``) is a :class:`_Tail`, which remembers the last byte read."""
    with open(path, "rb") as probe:
        zipped = probe.read(2) == b"\x1f\x8b"
    # gzip.open owns its file, so closing the text wrapper closes everything under it.
    binary = cast(IO[bytes], gzip.open(path, "rb") if zipped else open(path, "rb"))
    if tail:
        binary = cast(IO[bytes], _Tail(binary))
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")  # -sig: a BOM (Excel) is not data


# --- the registry of users-file shapes -------------------------------------------------------

@dataclass(frozen=True)
class Recognised:
    """A shape's sniff: the file is of this shape."""


@dataclass(frozen=True)
class NotThisShape:
    """A shape's sniff: the file is not of this shape, and why (``read_users`` names it if no shape fits)."""

    reason: str


Verdict = Recognised | NotThisShape
# (the file's first line, BOM removed; the definition) -> Verdict. Never raises.
Sniff = Callable[[str, Definition], Verdict]
# (file name, definition, values) -> the users, read lazily. Raises InputError naming file:line.
Reader = Callable[[str, Definition, Values], UserSource]


@dataclass(frozen=True)
class Shape:
    """One shape of users file: how to recognise it from its first line, and how to read it."""

    name: str  # how messages name it: "cohort export CSV"
    expected: str  # what "expected …" says of it: "a cohort export CSV (amplitude_id,user_id,…)"
    sniff: Sniff
    read: Reader
    membership_only: bool = False  # a cohort's membership (sync), never rendered


def read_users(path: str | os.PathLike[str], definition: Definition, values: Values,
               shapes: Sequence[Shape] | None = None) -> UserSource:
    """Open a users file of any of ``shapes`` (default :data:`RENDER_SHAPES`). Errors name the file and line."""
    tried = RENDER_SHAPES if shapes is None else tuple(shapes)
    name = os.fspath(path)
    if not FsPath(name).is_file():
        raise InputError(f"{name}: no such users file")
    try:
        with open_text(name) as handle:
            first = handle.readline().lstrip("\ufeff")
    except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{name}: cannot read users: {exc}") from None
    reasons: list[str] = []
    for shape in tried:
        verdict = shape.sniff(first, definition)
        if isinstance(verdict, Recognised):
            return shape.read(name, definition, values)
        reasons.append(f"{shape.name}: {verdict.reason}")
    for shape in SHAPES:  # a shape this reader does not take: say so, rather than "unrecognised" alone
        if shape not in tried and isinstance(shape.sniff(first, definition), Recognised):
            reasons.append(f"{shape.name}: it looks like one, but "
                           + ("only a sync reads it (as the cohort's members)" if shape.membership_only
                              else "it is not read here"))
    expected = [s.expected for s in tried]
    raise InputError(f"{name}:1: unrecognised users file: expected "
                     + (", ".join(expected[:-1]) + " or " + expected[-1] if len(expected) > 1 else "".join(expected))
                     + "".join(f"\n  {reason}" for reason in reasons))


def _header(first: str) -> list[str]:
    try:
        return [h.strip() for h in next(csv.reader([first]), [])]
    except csv.Error:
        return []


def _sniff_test_csv(first: str, definition: Definition) -> Verdict:
    header = _header(first)
    if header[:1] == ["operation"]:
        return Recognised()
    return NotThisShape(f"the first column is {header[0]!r}, not 'operation'" if header and header[0]
                        else "the first line has no 'operation' column")


def _sniff_export_csv(first: str, definition: Definition) -> Verdict:
    if first.lstrip().startswith("{"):
        return NotThisShape("the first line is a JSON object, not a CSV header")
    header = _header(first)
    if header[:1] == ["operation"]:
        return NotThisShape("the first column is 'operation', as in a test CSV")
    if "amplitude_id" in header or "user_id" in header:
        return Recognised()
    return NotThisShape("the header has neither amplitude_id nor user_id")


def _sniff_json_lines(first: str, definition: Definition) -> Verdict:
    if first.lstrip().startswith("{"):
        return Recognised()
    return NotThisShape("the first line is not a JSON object ({…})")


def _sniff_plain_ids(first: str, definition: Definition) -> Verdict:
    count = len(definition.mapping_fields)
    if count != 1:
        return NotThisShape(f"needs a definition with exactly one mapping variable ({definition.name} has "
                            f"{count}); use a cohort export CSV")
    text = first.strip()
    if text.startswith("{"):
        return NotThisShape("the first line is a JSON object")
    if any(c in text for c in ',"\t'):
        return NotThisShape(f"the first line ({text!r}) has commas, quotes or tabs: a CSV, not one id per line")
    return Recognised()


# --- reading each shape ------------------------------------------------------------------------
#
# Every reader is column-wise: it reads a block of rows at a time (csv.reader and the JSON
# scanner run in C over the block), checks the block's columns with set and ``in`` tests, and
# hands on :class:`Members` blocks — no Python object per user. A block with anything unusual
# in it (a blank line, a record over several lines, an empty value, an operation spelled
# " Add ") is read again row by row, which finds the same users, skips and errors as ever.
# Refs are lazy (:class:`Refs`): "line 7" is only spelled when a message names the user.

_UNREADABLE = (OSError, EOFError, zlib.error)  # a truncated or corrupt gzip file, a read error
_DECODER = json.JSONDecoder()


def _key(value: Any) -> str:
    """A value as a key: text as it is, any other JSON value as JSON (``42`` -> ``"42"``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


class _CsvBlocks:
    """A CSV file's records after its header, as blocks of columns: ``(columns, lines)``, each
    column a sequence of at most ``size`` fields and ``lines`` the line each record starts on.

    A block of plain lines — each ending in a newline; every field unquoted, or every field
    quoted with no quote inside — is split by ``str.split`` over the whole block, which is what
    the csv module makes of it; any other block (a blank line, a quote inside a field, a record
    over several lines, a carriage return) is read by the csv module, record by record. A row
    of the wrong length is an error naming its line (``expected N columns, found M``); a
    reading error is ``fail(error, line the record starts on, line the reader is at)``."""

    def __init__(self, handle: IO[str], line: int, width: int, name: str,
                 fail: Callable[[Exception, int, int], InputError], at_end: Callable[[int], None] | None = None):
        self.handle, self.line, self.width, self.name, self.fail = handle, line, width, name, fail
        self.at_end = at_end  # called before a row of the wrong width that ends the file is refused
        self.pending: InputError | None = None  # a bad row's error, raised once the rows before it are taken

    def blocks(self, size: int) -> Iterator[tuple[list[Sequence[str]], Sequence[int]]]:
        while True:
            if self.pending is not None:
                raise self.pending
            texts: list[str] = []
            try:
                texts.extend(itertools.islice(self.handle, size))
            except (UnicodeDecodeError, *_UNREADABLE) as exc:
                raise self.fail(exc, self.line + len(texts) + 1, self.line + len(texts)) from None
            if not texts:
                return
            columns = _plain_columns(texts, self.width)
            if columns is not None:
                self.line += len(texts)  # before the yield: a caller may take one block and leave
                yield columns, range(self.line - len(texts) + 1, self.line + 1)
                continue
            rows, lines = self._records(texts)
            if rows:
                yield list(zip(*rows)), lines

    def _records(self, texts: list[str]) -> tuple[list[list[str]], list[int]]:
        """The records of ``texts`` (and of the lines after, when the last runs on), by the csv module."""
        reader = csv.reader(itertools.chain(texts, self.handle), strict=True)
        rows: list[list[str]] = []
        lines: list[int] = []
        while reader.line_num < len(texts):
            start = self.line + reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError, *_UNREADABLE) as exc:
                raise self.fail(exc, start, self.line + reader.line_num) from None
            if not row:
                continue
            if len(row) != self.width:
                # Errors in file order: the rows before this one are checked (and may fail) first.
                if self.at_end is not None and reader.line_num >= len(texts) and not self.handle.read(1):
                    self.at_end(self.line + reader.line_num)
                self.pending = InputError(f"{self.name}:{start}: expected {self.width} columns, found {len(row)}")
                break
            rows.append(row)
            lines.append(start)
        self.line += reader.line_num
        return rows, lines


def _plain_columns(texts: list[str], width: int) -> list[Sequence[str]] | None:
    """The block's columns when every line is plain (see :class:`_CsvBlocks`), else None."""
    text = "".join(texts)
    if not text.endswith("\n") or "\r" in text or "\x00" in text:
        return None
    if '"' not in text:
        if set(map(str.count, texts, itertools.repeat(","))) != {width - 1} or (width == 1 and "\n" in texts):
            return None
        flat = text[:-1].replace("\n", ",").split(",") if width > 1 else text[:-1].split("\n")
    else:
        # "a","b": split at every quote. A plain block then alternates a separator and a field:
        # '' first, then each field followed by ',' (width - 1 times a line) or '\n' (once a
        # line). A field may hold a comma, as in the csv module; it holds no quote (all of them
        # split) and no newline (the text has one a line, all of them separators), and no
        # call is made per line: the checks are counts over two lists.
        parts = text.split('"')
        lines = len(texts)
        if len(parts) != 2 * width * lines + 1 or parts[0] != "":
            return None
        separators = parts[2::2]
        if separators.count(",") != lines * (width - 1) or separators[width - 1::width].count("\n") != lines:
            return None
        fields = parts[1::2]
        return [fields[i::width] for i in range(width)]
    if len(flat) != len(texts) * width:
        return None
    return [flat[i::width] for i in range(width)]


def _runs(operations: Sequence[str]) -> Iterator[tuple[str, int, int]]:
    """(operation, start, stop) of each run of one operation."""
    if len(set(operations)) == 1:
        yield operations[0], 0, len(operations)
        return
    start = 0
    for i in range(1, len(operations) + 1):
        if i == len(operations) or operations[i] != operations[start]:
            yield operations[start], start, i
            start = i


def _members(operation: str, names: Sequence[str], columns: Sequence[Sequence[Any]], keys: Sequence[str],
             refs: Sequence[str], start: int = 0, stop: int | None = None) -> Members:
    if start == 0 and (stop is None or stop == len(keys)):
        return Members(operation, dict(zip(names, columns)), keys, refs)
    return Members(operation, {n: c[start:stop] for n, c in zip(names, columns)}, keys[start:stop], refs[start:stop])


def _keep(columns: list[Sequence[Any]], keep: list[bool]) -> list[Sequence[Any]]:
    return [list(itertools.compress(c, keep)) for c in columns]


def _test_csv(name: str, definition: Definition, values: Values) -> UserSource:
    """The portal's test CSV. Its cohort columns fill the cohort, so the first block is read at
    once (a small file whole: its every error shows here); the rest streams."""
    handle = open_text(name)

    def fail(exc: Exception, start: int, now: int) -> InputError:
        if isinstance(exc, _UNREADABLE):
            return InputError(f"{name}:{now}: cannot read users: {exc}")
        return InputError(f"{name}:{now}: malformed CSV: {exc}")

    try:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader)
        except (csv.Error, UnicodeDecodeError, *_UNREADABLE) as exc:
            raise fail(exc, 1, reader.line_num) from None
        header = [h.strip() for h in header]
        mapping_vars = [m.variable for m in definition.mapping_fields]
        known = set(mapping_vars) | set(COHORT_COLUMNS) | {"operation"}
        for column in header:
            if column not in known:
                hint = did_you_mean(column, known)
                raise InputError(f"{name}:1: unknown column '{column}'" + (f" ({hint})" if hint else "")
                                 + "; columns are operation, the mapping variables and amp_cohort_*")
        missing = [v for v in mapping_vars if v not in header]
        if missing:
            raise InputError(f"{name}:1: missing column(s) for mapping variables: {', '.join(missing)}")
    except BaseException:
        handle.close()
        raise
    width = len(header)
    records = _CsvBlocks(handle, reader.line_num, width, name, fail)
    where = {column: i for i, column in enumerate(header)}
    mapped = [where[v] for v in mapping_vars]
    cohort_columns = [(column, key, where[column]) for column, key in COHORT_COLUMNS.items() if column in where]
    source = UserSource(name, ())
    cohort: dict[str, str] = {}

    def block(columns: list[Sequence[str]], lines: Sequence[int]) -> list[Members]:
        operations = columns[where["operation"]]
        if not {ADD, REMOVE}.issuperset(operations):
            operations = [o.strip().lower() for o in operations]
            for operation, raw, line in zip(operations, columns[where["operation"]], lines):
                if operation not in (ADD, REMOVE):
                    raise InputError(f"{name}:{line}: operation must be 'add' or 'remove', not {raw!r}")
        for column, key, i in cohort_columns:
            said = cohort.setdefault(key, columns[i][0])
            if len(set(columns[i])) != 1 or columns[i][0] != said:
                for value, line in zip(columns[i], lines):
                    if value != said:
                        raise InputError(f"{name}:{line}: {column} is {value!r} but earlier rows say {said!r}; "
                                         "cohort columns must agree on every row")
        picked = [columns[i] for i in mapped]
        refs: Sequence[str] = Refs("line ", lines)
        if any("" in c for c in picked):  # never sent with an empty id: skipped and reported
            keep = []
            for j, line in enumerate(lines):
                empty = unsendable(definition, mapping_vars, [c[j] for c in picked])
                if empty is not None:
                    source.skip(f"line {line}", f"no {empty}")
                keep.append(empty is None)
            picked, operations, kept_lines = _keep(picked, keep), list(itertools.compress(operations, keep)), \
                list(itertools.compress(lines, keep))
            refs = Refs("line ", kept_lines)
        # The file names users only by their mapped values: the first one is the key.
        keys = picked[0] if picked else [""] * len(refs)
        return [_members(op, mapping_vars, picked, keys, refs, a, b) for op, a, b in _runs(operations) if b > a]

    try:
        first = next(records.blocks(BLOCK), None)
        held = block(*first) if first is not None else []
    except BaseException:
        handle.close()
        raise

    def blocks(size: int) -> Iterator[Members]:
        with handle:
            yield from held
            for columns, lines in records.blocks(max(size, 1)):
                yield from block(columns, lines)

    if cohort:  # what the columns say, field by field: rendering merges it with the values file
        source.cohort = Cohort(cohort.get("id", ""), cohort.get("name", ""), cohort.get("url", ""))
    source._blocks = _Once(blocks)
    return source


def _property_resolver(definition: Definition, values: Values) -> list[tuple[str, str]]:
    return [(m.variable, values.mappings[m.variable]) for m in definition.mapping_fields]


def _export_csv(name: str, definition: Definition, values: Values) -> UserSource:
    """An Amplitude cohort export: everyone in it is entering; values through ``mappings:``."""
    wanted = _property_resolver(definition, values)
    export = open_export(name)
    header = export.header
    for variable, prop in wanted:
        if prop not in header:
            export.close()
            raise InputError(f"{name}:{export.header_line}: mapping {variable} -> '{prop}', but the export has no "
                             f"'{prop}' column (columns: {', '.join(header)}); export with properties or change "
                             "the mapping")
    names = [variable for variable, _ in wanted]
    index = [header.index(prop) for _, prop in wanted]
    id_col = header.index("amplitude_id") if "amplitude_id" in header else None
    identity = [header.index(c) for c in ("user_id", "amplitude_id") if c in header]
    source = UserSource(name, ())

    def blocks(size: int) -> Iterator[Members]:
        for columns, lines in export.chunks(max(size, 1)):
            picked = [columns[i] for i in index]
            refs: Sequence[str] = Refs("amplitude_id ", columns[id_col]) if id_col is not None else Refs("line ", lines)
            if any("" in c for c in picked):  # never sent with an empty id: skipped and reported
                keep = []
                for j in range(len(lines)):
                    empty = unsendable(definition, names, [c[j] for c in picked])
                    if empty is not None:
                        source.skip(refs[j], f"no {values.mappings[empty]}")
                    keep.append(empty is None)
                if not any(keep):
                    continue
                columns, lines = _keep(columns, keep), list(itertools.compress(lines, keep))
                picked = [columns[i] for i in index]
                refs = Refs("amplitude_id ", columns[id_col]) if id_col is not None else Refs("line ", lines)
            if identity and "" not in columns[identity[0]]:
                keys: Sequence[str] = columns[identity[0]]
            else:  # user_id, else amplitude_id, else the first mapped value
                keys = [next((v for v in ids if v != ""), None) or (first if index else "")
                        for ids, first in zip(zip(*(columns[i] for i in identity)) if identity
                                              else itertools.repeat(()), picked[0] if index else [""] * len(lines))]
            yield _members(ADD, names, picked, keys, refs)

    source._blocks = _Once(blocks)
    return source


def _json_lines(name: str, definition: Definition, values: Values) -> UserSource:
    """JSON lines: an operation each (default add); values through ``mappings:``, typed as given."""
    wanted = _property_resolver(definition, values)
    names = [variable for variable, _ in wanted]
    source = UserSource(name, ())

    def one_by_one(texts: list[str], first: int) -> Iterator[Members]:
        """The exact rules, line by line: for a block the column-wise path does not take."""
        operations: list[str] = []
        columns: list[list[Any]] = [[] for _ in wanted]
        keys: list[str] = []
        refs: list[str] = []
        for line, text in enumerate(texts, first):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{name}:{line}:{exc.colno}: invalid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise InputError(f"{name}:{line}: each line must be a JSON object")
            operation = str(record.get("operation", ADD)).lower()
            if operation not in (ADD, REMOVE):
                raise InputError(f"{name}:{line}: operation must be 'add' or 'remove', not {operation!r}")
            props = record.get("user_properties") or {}
            ref = next((f"{k} {record[k]}" for k in ("user_id", "amplitude_id") if record.get(k)), f"line {line}")
            mapped: list[Any] = [record.get(prop, props.get(prop) if isinstance(props, dict) else None)
                                 for _, prop in wanted]
            empty = unsendable(definition, names, mapped)
            if empty is not None:
                source.skip(ref, f"no {values.mappings[empty]}")
            else:
                key = next((_key(record[k]) for k in ("user_id", "amplitude_id") if record.get(k) not in (None, "")),
                           None)
                operations.append(operation)
                for column, value in zip(columns, mapped):
                    column.append(value)
                keys.append(key if key is not None else _key(mapped[0]) if mapped else "")
                refs.append(ref)
        for operation, a, b in _runs(operations):
            yield _members(operation, names, columns, keys, refs, a, b)

    def column_wise(texts: list[str], first: int) -> list[Members] | None:
        """The block column-wise, or None when anything in it needs the exact rules."""
        # The whole block as one JSON array, in one call of the C decoder. A blank line makes two
        # commas meet (invalid); so as many values as lines is one value a line, whitespace
        # around it allowed, as line by line (json.loads of each) allows it.
        text = "[" + ",".join(texts) + "]"
        try:
            records = _DECODER.decode(text)
        except ValueError:
            return None  # invalid JSON or a blank line: line by line says which
        if len(records) != len(texts) or set(map(type, records)) != {dict}:
            return None
        operations: Sequence[str] = [ADD] * len(records)
        # A record with an operation shows '"operation"' in the text, or spells it with \u escapes.
        if '"operation"' in text or "\\u" in text:
            operations = list(map(dict.get, records, itertools.repeat("operation"), itertools.repeat(ADD)))
            try:
                if not {ADD, REMOVE}.issuperset(operations):
                    return None
            except TypeError:  # an operation that is an array or an object
                return None
        columns: list[list[Any]] = []
        for _, prop in wanted:
            try:
                column = list(map(operator.itemgetter(prop), records))
            except KeyError:
                return None
            if None in column or "" in column:
                return None
            columns.append(column)
        # The key is the user_id; when a mapping reads it too, its column (checked just above
        # for None and "") is that list already.
        reused = [c for (_, prop), c in zip(wanted, columns) if prop == "user_id"]
        ids: list[Any] = reused[0] if reused else list(map(dict.get, records, itertools.repeat("user_id")))
        if set(map(type, ids)) != {str} or "" in ids:
            return None
        return [_members(op, names, columns, ids, Refs("user_id ", ids), a, b) for op, a, b in _runs(operations)]

    def blocks(size: int) -> Iterator[Members]:
        for texts, first in _line_chunks(name, size):
            fast = column_wise(texts, first)
            yield from fast if fast is not None else one_by_one(texts, first)

    source._blocks = _Once(blocks)
    return source


def _plain_ids(name: str, definition: Definition, values: Values) -> UserSource:
    """One id per line, for the definition's only mapping variable; everyone is entering."""
    variable = definition.mapping_fields[0].variable
    # A first line naming the column (the variable, the property it is mapped from, or an
    # id column of Amplitude's) is a header, not a user: sent, it would join the list.
    headers = {variable, values.mappings.get(variable) or variable, "user_id", "amplitude_id", "id"}
    source = UserSource(name, ())

    def blocks(size: int) -> Iterator[Members]:
        for texts, first in _line_chunks(name, size):
            ids = list(map(str.strip, texts))
            lines: Sequence[int] = range(first, first + len(texts))
            if first == 1 and ids[0].lstrip("\ufeff") in headers:
                ids, lines = ids[1:], lines[1:]
            if "" in ids:
                keep = [i != "" for i in ids]
                ids, lines = list(itertools.compress(ids, keep)), list(itertools.compress(lines, keep))
            if ids:
                yield Members(ADD, {variable: ids}, ids, Refs("line ", lines))

    source._blocks = _Once(blocks)
    return source


def _line_chunks(name: str, size: int) -> Iterator[tuple[list[str], int]]:
    """The file's lines ``size`` at a time, with the number of each chunk's first line; a line
    that cannot be read is an InputError naming it."""
    first = 1
    with open_text(name) as handle:
        while True:
            texts: list[str] = []
            try:
                texts.extend(itertools.islice(handle, max(size, 1)))
            except UnicodeDecodeError as exc:
                raise InputError(f"{name}:{first + len(texts)}: not valid UTF-8: {exc}") from None
            except _UNREADABLE as exc:
                raise InputError(f"{name}:{first + len(texts)}: cannot read users: {exc}") from None
            if not texts:
                return
            yield texts, first
            first += len(texts)


class _Once:
    """A reader that says so when read twice, instead of silently yielding nothing."""

    def __init__(self, blocks: Callable[[int], Iterator[Members]]):
        self._blocks, self._used = blocks, False

    def __call__(self, size: int) -> Iterator[Members]:
        if self._used:
            raise InputError("these users were already read once; open the file again")
        self._used = True
        return self._blocks(size)


SHAPES: tuple[Shape, ...] = (
    Shape("test CSV", "a test CSV (operation,…)", _sniff_test_csv, _test_csv),
    Shape("cohort export CSV", "a cohort export CSV (amplitude_id,user_id,…)", _sniff_export_csv, _export_csv),
    Shape("JSON lines", "JSON lines", _sniff_json_lines, _json_lines),
    Shape("plain id list", "a plain id list (one id a line)", _sniff_plain_ids, _plain_ids, membership_only=True),
)
"""Every users-file shape, in the order they are asked. Adding a shape is adding an entry."""

RENDER_SHAPES: tuple[Shape, ...] = tuple(s for s in SHAPES if not s.membership_only)
"""The shapes render reads: every shape but a cohort's membership only."""


# --- the cohort export CSV's records (shared with amplitude.read_export) ------------------------

class _Tail(io.BufferedIOBase):
    """A binary file that remembers the last byte read: at the end, a file cut short (a
    truncated download or copy) shows as a last byte that is not a newline."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self.last = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        if data:
            self.last = data[-1:]
        return data

    def read1(self, size: int = -1) -> bytes:
        data = self._raw.read1(size)  # type: ignore[attr-defined]
        if data:
            self.last = data[-1:]
        return data

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass
class ExportFile:
    """An open cohort export CSV: its header (names stripped), then its records, read lazily.

    The file must be complete to its last row: every record parsed (an unterminated quote at
    the end is an error), and a newline after the last line. Amplitude ends every export
    with one, so a file without it was cut short."""

    name: str
    header: list[str]
    header_line: int
    _handle: IO[str]
    _reader: Any
    _tail: _Tail | None = None
    _records: "_CsvBlocks | None" = None

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Each non-blank record: the line it starts on (a quoted field may span lines) and its
        fields. A malformed record, or a file that ends without a newline, raises InputError
        naming the file and the line. Closes the file when done."""
        with self._handle:
            # One record behind: the last one is given only once the file is known to be whole.
            held = _next_record(self._reader, self.name)
            while held is not None:
                following = _next_record(self._reader, self.name)
                if following is None:
                    self._check_complete()
                yield held
                held = following
            self._check_complete()

    def chunks(self, size: int) -> Iterator[tuple[list[Sequence[str]], Sequence[int]]]:
        """The records in blocks of at most ``size``, as columns (a record of another width than
        the header's is an error naming its line), with the line each record starts on; the last record only once the file is known to be whole.
        Closes the file when done."""
        self._records = _CsvBlocks(self._handle, self._reader.line_num, len(self.header), self.name,
                                   lambda exc, start, now: _csv_problem(exc, self.name, start, now),
                                   self._check_complete)
        with self._handle:
            chunks = self._records.blocks(size)
            held = next(chunks, None)
            while held is not None:
                following = next(chunks, None)
                if following is None:  # one record behind: the last is given once the file is known whole
                    columns, lines = held
                    if len(lines) > 1:
                        yield [c[:-1] for c in columns], lines[:-1]
                    self._check_complete()
                    yield [c[-1:] for c in columns], lines[-1:]
                    return
                yield held
                held = following
            self._check_complete()

    def _check_complete(self, line: int | None = None) -> None:
        if self._tail is not None and self._tail.last and self._tail.last not in (b"\n", b"\r"):
            if line is None:
                line = self._records.line if self._records is not None else self._reader.line_num
            raise InputError(f"{self.name}:{line}: the file ends in the middle of a line (no "
                             "newline after the last record): it looks cut short, so it is not used; "
                             "download or copy it again")

    def close(self) -> None:
        self._handle.close()


def open_export(path: str | os.PathLike[str], name: str | None = None) -> ExportFile:
    """Open a cohort export CSV (gzip accepted) and read its header; ``name`` names it in messages."""
    name = os.fspath(path) if name is None else name
    if not FsPath(path).is_file():
        raise InputError(f"{name}: no such file")
    try:
        handle = open_text(path, tail=True)
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    try:
        reader = csv.reader(handle, strict=True)
        first = _next_record(reader, name)
        if first is None:
            raise InputError(f"{name}: empty file; a cohort export starts with the header \"amplitude_id\",\"user_id\"")
        line, header = first
        header = [h.strip() for h in header]
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise InputError(f"{name}:{line}: column {', '.join(repeated)} appears twice in the header")
    except BaseException:
        handle.close()
        raise
    return ExportFile(name, header, line, handle, reader, cast(_Tail, cast(io.TextIOWrapper, handle).buffer))


def _csv_problem(exc: Exception, name: str, start: int, now: int) -> InputError:
    """What a reading error means, for the record starting on line ``start`` (the reader is at ``now``)."""
    if isinstance(exc, UnicodeDecodeError):
        return InputError(f"{name}:{start}: not UTF-8 text ({exc.reason})")
    if isinstance(exc, _UNREADABLE):  # a broken gzip
        return InputError(f"{name}:{start}: cannot read users: {exc}")
    if "end of data" in str(exc) or "EOF" in str(exc):
        return InputError(f"{name}:{start}: unterminated quote: a quoted field of the record starting "
                          "on this line never closes")
    problem = ("text after a closing quote (a quote inside a quoted field is written twice: \"\")"
               if "expected after" in str(exc) else str(exc))
    if now > start:
        # A quoted field ran on past its line: the quote left open at the start is the likely culprit.
        return InputError(f"{name}:{start}: malformed CSV: the record starting on this line runs on to line "
                          f"{now}, where it breaks ({problem}); is a quote here unterminated?")
    return InputError(f"{name}:{start}: malformed CSV: {problem}")


def _next_record(reader: Any, name: str) -> tuple[int, list[str]] | None:
    """The next non-blank record and the line it starts on (a quoted field may span lines)."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return None
        except (csv.Error, UnicodeDecodeError, *_UNREADABLE) as exc:
            raise _csv_problem(exc, name, start, reader.line_num) from None
        if row:
            return start, row

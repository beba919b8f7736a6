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
import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import IO, Any, Callable, Iterable, Iterator, Sequence, cast

from .diagnostics import InputError, did_you_mean
from .loader import read_document
from .model import Definition
from .values import ADD, COHORT_COLUMNS, REMOVE, Cohort, User, UserSource, Values, values_from_data

# --- values -----------------------------------------------------------------------------

def load_values(path: str | os.PathLike[str]) -> Values:
    """Read a values file; every problem is reported at once with its file:line:col."""
    document = read_document(path)
    if document.data is None or not document.ok:
        raise InputError("\n".join(d.format() for d in document.diagnostics))
    return values_from_data(document.data, document)


# --- users ------------------------------------------------------------------------------

def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """The file as text, gunzipped when it starts with gzip's magic bytes."""
    with open(path, "rb") as probe:
        zipped = probe.read(2) == b"\x1f\x8b"
    # gzip.open owns its file, so closing the text wrapper closes everything under it.
    binary = cast(IO[bytes], gzip.open(path, "rb") if zipped else open(path, "rb"))
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

_UNREADABLE = (OSError, EOFError, zlib.error)  # a truncated or corrupt gzip file, a read error


def _text_lines(name: str) -> Iterator[tuple[int, str]]:
    """Numbered lines of a users file; a file that cannot be read is an InputError naming the line."""
    line = 0
    with open_text(name) as handle:
        try:
            for line, text in enumerate(handle, 1):
                yield line, text
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}:{line + 1}: not valid UTF-8: {exc}") from None
        except _UNREADABLE as exc:
            raise InputError(f"{name}:{line + 1}: cannot read users: {exc}") from None


def _csv_rows(name: str) -> Iterator[tuple[int, list[str]]]:
    with open_text(name) as handle:
        reader = csv.reader(handle, strict=True)
        try:
            for row in reader:
                if row:
                    yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{name}:{reader.line_num}: malformed CSV: {exc}") from None
        except _UNREADABLE as exc:
            raise InputError(f"{name}:{reader.line_num}: cannot read users: {exc}") from None


def _key(value: Any) -> str:
    """A value as a key: text as it is, any other JSON value as JSON (``42`` -> ``"42"``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _test_csv(name: str, definition: Definition, values: Values) -> UserSource:
    """The portal's test CSV: read whole (it is small), since its cohort columns fill the cohort."""
    rows = _csv_rows(name)
    _, header = next(rows)
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
    users: list[User] = []
    skipped: list[tuple[str, str]] = []
    cohort: dict[str, str] = {}
    for line, row in rows:
        if len(row) != len(header):
            raise InputError(f"{name}:{line}: expected {len(header)} columns, found {len(row)}")
        record = dict(zip(header, row))
        operation = record["operation"].strip().lower()
        if operation not in (ADD, REMOVE):
            raise InputError(f"{name}:{line}: operation must be 'add' or 'remove', not {record['operation']!r}")
        for column, key in COHORT_COLUMNS.items():
            if column in record:
                if cohort.setdefault(key, record[column]) != record[column]:
                    raise InputError(f"{name}:{line}: {column} is {record[column]!r} but earlier rows say "
                                     f"{cohort[key]!r}; cohort columns must agree on every row")
        empty = [v for v in mapping_vars if record[v] == ""]
        if empty:  # never sent with an empty id: reported, like the other shapes
            skipped.append((f"line {line}", f"no {empty[0]}"))
            continue
        # The file names users only by their mapped values: the first one is the key.
        key = record[mapping_vars[0]] if mapping_vars else ""
        users.append(User(operation, {v: record[v] for v in mapping_vars}, f"line {line}", key))
    source = UserSource(name, users)
    for ref, reason in skipped:
        source.skip(ref, reason)
    if cohort:  # what the columns say, field by field: rendering merges it with the values file
        source.cohort = Cohort(cohort.get("id", ""), cohort.get("name", ""), cohort.get("url", ""))
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
    index = [(variable, header.index(prop)) for variable, prop in wanted]
    id_col = header.index("amplitude_id") if "amplitude_id" in header else None
    identity = [header.index(c) for c in ("user_id", "amplitude_id") if c in header]
    source = UserSource(name, ())

    def users() -> Iterator[User]:
        for line, row in export.records():
            if len(row) != len(header):
                raise InputError(f"{name}:{line}: expected {len(header)} columns, found {len(row)}")
            ref = f"amplitude_id {row[id_col]}" if id_col is not None else f"line {line}"
            mapped = {variable: row[i] for variable, i in index}
            empty = [v for v, value in mapped.items() if value == ""]
            if empty:
                source.skip(ref, f"no {values.mappings[empty[0]]}")
                continue
            key = next((row[i] for i in identity if row[i] != ""), None)
            yield User(ADD, mapped, ref, next(iter(mapped.values()), "") if key is None else key)

    source._rows = _Once(users())
    return source


def _json_lines(name: str, definition: Definition, values: Values) -> UserSource:
    """JSON lines: an operation each (default add); values through ``mappings:``, typed as given."""
    wanted = _property_resolver(definition, values)
    source = UserSource(name, ())

    def users() -> Iterator[User]:
        for line, text in _text_lines(name):
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
            mapped: dict[str, Any] = {}
            for variable, prop in wanted:
                value = record.get(prop, props.get(prop) if isinstance(props, dict) else None)
                if value is None or value == "":
                    source.skip(ref, f"no {prop}")
                    break
                mapped[variable] = value
            else:
                key = next((_key(record[k]) for k in ("user_id", "amplitude_id") if record.get(k) not in (None, "")),
                           None)
                yield User(operation, mapped, ref, _key(next(iter(mapped.values()), "")) if key is None else key)

    source._rows = _Once(users())
    return source


def _plain_ids(name: str, definition: Definition, values: Values) -> UserSource:
    """One id per line, for the definition's only mapping variable; everyone is entering."""
    variable = definition.mapping_fields[0].variable
    source = UserSource(name, ())

    def users() -> Iterator[User]:
        for line, text in _text_lines(name):
            user_id = text.strip()
            if user_id:
                yield User(ADD, {variable: user_id}, f"line {line}", user_id)

    source._rows = _Once(users())
    return source


class _Once:
    """A generator that says so when iterated twice, instead of silently yielding nothing."""

    def __init__(self, generator: Iterator[User]):
        self._generator, self._used = generator, False

    def __iter__(self) -> Iterator[User]:
        if self._used:
            raise InputError("these users were already read once; open the file again")
        self._used = True
        return self._generator


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

class _Lines:
    """A text file's lines, remembering the last one read: a file cut short (a truncated
    download or copy) shows as a last line without its newline."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self.last = ""

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        self.last = next(self._handle)
        return self.last


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
    _lines: _Lines | None = None

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

    def _check_complete(self) -> None:
        if self._lines is not None and self._lines.last and not self._lines.last.endswith(("\n", "\r")):
            raise InputError(f"{self.name}:{self._reader.line_num}: the file ends in the middle of a line (no "
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
        handle = open_text(path)
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    try:
        lines = _Lines(handle)
        reader = csv.reader(lines, strict=True)
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
    return ExportFile(name, header, line, handle, reader, lines)


def _next_record(reader: Any, name: str) -> tuple[int, list[str]] | None:
    """The next non-blank record and the line it starts on (a quoted field may span lines)."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            if "end of data" in str(exc) or "EOF" in str(exc):
                raise InputError(f"{name}:{start}: unterminated quote: a quoted field of the record starting "
                                 "on this line never closes") from None
            problem = ("text after a closing quote (a quote inside a quoted field is written twice: \"\")"
                       if "expected after" in str(exc) else str(exc))
            if reader.line_num > start:
                # A quoted field ran on past its line: the quote left open at the start is the likely culprit.
                raise InputError(f"{name}:{start}: malformed CSV: the record starting on this line runs on to line "
                                 f"{reader.line_num}, where it breaks ({problem}); is a quote here unterminated?"
                                 ) from None
            raise InputError(f"{name}:{start}: malformed CSV: {problem}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}:{start}: not UTF-8 text ({exc.reason})") from None
        except _UNREADABLE as exc:  # a broken gzip
            raise InputError(f"{name}:{start}: cannot read users: {exc}") from None
        if row:
            return start, row

"""Inputs of rendering: the values a customer types into the setup modal, and the users.

- Values file (YAML)::

      fields: {api_key: "k-123", region: eu}          # custom-field and auth variables
      mappings: {user_id_field_amplitude: user_id}    # mapping variable -> Amplitude user property
      cohort: {id: "1234", name: "Beta users", url: "https://app.amplitude.com/..."}
      list_id: "2568"                                  # optional

- Users, in three shapes (detected from the first line, gzip accepted):
  the portal's test CSV (``operation,<variable>…``), an Amplitude cohort export CSV
  (``amplitude_id,user_id[,property…]``, everyone entering) and JSON lines
  (``{"operation": "add", "user_id": …, "user_properties": {…}}``).

Users are read lazily, so a cohort of millions streams through rendering. A user whose mapped
value is missing is never sent with an empty id: it is counted in ``UserSource.skipped``.
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
from typing import IO, Any, Iterable, Iterator, Mapping

from .diagnostics import InputError, did_you_mean
from .loader import read_document
from .model import Definition
from .values import ADD, COHORT_COLUMNS, REMOVE, Cohort, User, Values, values_from_data


# --- values -----------------------------------------------------------------------------

def load_values(path: str | os.PathLike[str]) -> Values:
    """Read a values file; every problem is reported at once with its file:line:col."""
    document = read_document(path)
    if document.data is None or not document.ok:
        raise InputError("\n".join(d.format() for d in document.diagnostics))
    return values_from_data(document.data, document)


# --- users ------------------------------------------------------------------------------

@dataclass
class UserSource:
    """Users read lazily from a file; ``cohort`` is what the file says of the cohort (test CSV);
    ``skipped`` names users that could not be sent (no value for a mapping), filled as read."""

    name: str
    _rows: Iterable[User]
    cohort: Cohort | None = None
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0

    def __iter__(self) -> Iterator[User]:
        return iter(self._rows)

    def skip(self, ref: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < 5:
            self.skipped.append(f"{ref} ({reason})")


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """The file as text, gunzipped when it starts with gzip's magic bytes."""
    with open(path, "rb") as probe:
        zipped = probe.read(2) == b"\x1f\x8b"
    # gzip.open owns its file, so closing the text wrapper closes everything under it.
    binary: IO[bytes] = gzip.open(path, "rb") if zipped else open(path, "rb")
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")  # -sig: a BOM (Excel) is not data


def read_users(path: str | os.PathLike[str], definition: Definition, values: Values) -> UserSource:
    """Open a users file of any supported shape. Errors name the file and line."""
    name = os.fspath(path)
    if not FsPath(name).is_file():
        raise InputError(f"{name}: no such users file")
    try:
        with open_text(name) as handle:
            first = handle.readline().lstrip("\ufeff")
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputError(f"{name}: cannot read users: {exc}") from None
    if first.lstrip().startswith("{"):
        return _jsonl(name, definition, values)
    header = next(csv.reader([first]), [])
    if header and header[0].strip() == "operation":
        return _test_csv(name, definition)
    if "amplitude_id" in header or "user_id" in header:
        return _export_csv(name, definition, values)
    raise InputError(f"{name}:1: unrecognised users file: expected a test CSV (operation,…), "
                     "a cohort export CSV (amplitude_id,user_id,…) or JSON lines")


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


def _test_csv(name: str, definition: Definition) -> UserSource:
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
        users.append(User(operation, {v: record[v] for v in mapping_vars}, f"line {line}"))
    source = UserSource(name, users)
    for ref, reason in skipped:
        source.skip(ref, reason)
    if cohort:  # what the columns say, field by field: rendering merges it with the values file
        source.cohort = Cohort(cohort.get("id", ""), cohort.get("name", ""), cohort.get("url", ""))
    return source


def _property_resolver(definition: Definition, values: Values) -> list[tuple[str, str]]:
    return [(m.variable, values.mappings[m.variable]) for m in definition.mapping_fields]


def _export_csv(name: str, definition: Definition, values: Values) -> UserSource:
    wanted = _property_resolver(definition, values)
    rows = _csv_rows(name)
    _, header = next(rows)
    header = [h.strip() for h in header]
    for variable, prop in wanted:
        if prop not in header:
            raise InputError(f"{name}:1: mapping {variable} -> '{prop}', but the export has no '{prop}' column "
                             f"(columns: {', '.join(header)}); export with properties or change the mapping")
    index = [(variable, header.index(prop)) for variable, prop in wanted]
    id_col = header.index("amplitude_id") if "amplitude_id" in header else None
    source = UserSource(name, ())

    def users() -> Iterator[User]:
        for line, row in rows:
            if len(row) != len(header):
                raise InputError(f"{name}:{line}: expected {len(header)} columns, found {len(row)}")
            ref = f"amplitude_id {row[id_col]}" if id_col is not None else f"line {line}"
            mapped = {variable: row[i] for variable, i in index}
            empty = [v for v, value in mapped.items() if value == ""]
            if empty:
                source.skip(ref, f"no {values.mappings[empty[0]]}")
                continue
            yield User(ADD, mapped, ref)

    source._rows = _Once(users())
    return source


def _jsonl(name: str, definition: Definition, values: Values) -> UserSource:
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
                yield User(operation, mapped, ref)

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

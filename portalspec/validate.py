"""Stage 2, validation: a loaded document → ranked diagnostics, or a :class:`Definition`.

Schema and semantic checks both run on every document (jsonschema-style: collect every
problem, then rank), so one run shows all that is wrong. Each diagnostic is then located
through the loader's source map.
"""

from __future__ import annotations

import os
from pathlib import Path as FsPath
from typing import Union

from .checks import run_checks
from .diagnostics import DefinitionError, Diagnostic, ranked
from .extensions import extension_diagnostics, extension_marks
from .loader import Document, parse_document, read_document
from .model import Definition, definition_from_data
from .schema import schema_diagnostics
from .variables import VariableRow
from .variables import variable_table as _table

Source = Union[str, "os.PathLike[str]", Document]

def _at_key(diag: Diagnostic) -> bool:
    """Problems with a key itself (unknown key, bad header name in a headers map) point at the
    key, not its value; a bad ``auth.header_name`` is a value and points at it."""
    return diag.code == "PS102" or (diag.code == "PS305" and diag.path[-2:-1] == ("headers",))


def open_document(source: Source) -> Document:
    """A path (``str`` or ``PathLike``) is read from disk; a ``str`` with a newline is YAML text.

    This guess is what :func:`validate` and :func:`load` do with a ``str``; a one-line YAML
    text (``"portalspec: 1"``) is taken for a path. :func:`validate_string`/:func:`load_string`
    and :func:`validate_file`/:func:`load_file` say which one is meant and never guess.
    """
    if isinstance(source, Document):
        return source
    if isinstance(source, str) and ("\n" in source or not source.strip()):
        return parse_document(source, "<string>", FsPath.cwd())
    return read_document(source)


def string_document(text: str, name: str = "<string>", base_dir: FsPath | None = None) -> Document:
    """YAML text, always; ``name`` is the file name diagnostics show, ``base_dir`` (default:
    the working directory) where relative paths in it (the logo) resolve."""
    return parse_document(text, name, FsPath.cwd() if base_dir is None else base_dir)


def check_document(document: Document, target: str | None = None) -> list[Diagnostic]:
    """Every problem of a loaded document, located and ranked (most relevant first).

    With a ``target`` (``portalspec`` or ``portal``, see :mod:`portalspec.extensions`), the
    constructs beyond the Developer Portal's form are listed too: as notes, or as errors."""
    found = list(document.diagnostics)
    if document.data is not None:
        source = document.source
        for diag in schema_diagnostics(document.data):
            found.append(source.locate(diag, key=_at_key(diag)))
        for f in run_checks(document.data, document.base_dir):
            found.append(source.locate(f.diagnostic, f.offset, key=f.at_key))
        if target is not None:
            for diag, offset, at_key in extension_diagnostics(document.data, target):
                found.append(source.locate(diag, offset, key=at_key))
    return ranked(found)


def validate(source: Source, *, target: str | None = None) -> list[Diagnostic]:
    """All diagnostics for a definition file or text; an empty list means valid and clean.

    A ``str`` is a path unless it holds a newline (see :func:`open_document`);
    :func:`validate_file` and :func:`validate_string` do not guess. ``target="portal"`` also
    reports, as errors, every construct the Developer Portal cannot express."""
    return check_document(open_document(source), target)


def validate_file(path: str | os.PathLike[str]) -> list[Diagnostic]:
    """All diagnostics for the definition file at ``path`` (a missing file is PS001)."""
    return check_document(read_document(path))


def validate_string(text: str, name: str = "<string>", base_dir: FsPath | None = None) -> list[Diagnostic]:
    """All diagnostics for a definition given as YAML text, even one line of it."""
    return check_document(string_document(text, name, base_dir))


def load_document(document: Document) -> Definition:
    """Check a loaded document; raise :class:`DefinitionError` if it has any error."""
    diagnostics = check_document(document)
    if any(d.is_error for d in diagnostics):
        raise DefinitionError(diagnostics)
    return definition_from_data(document.data, document.source)


def load(source: Source) -> Definition:
    """Load and check a definition; raise :class:`DefinitionError` if it has any error.

    A ``str`` is a path unless it holds a newline (see :func:`open_document`);
    :func:`load_file` and :func:`load_string` do not guess."""
    return load_document(open_document(source))


def load_file(path: str | os.PathLike[str]) -> Definition:
    """Load and check the definition file at ``path``; raise :class:`DefinitionError` if it has any error."""
    return load_document(read_document(path))


def load_string(text: str, name: str = "<string>", base_dir: FsPath | None = None) -> Definition:
    """Load and check a definition given as YAML text, even one line of it; raise
    :class:`DefinitionError` if it has any error."""
    return load_document(string_document(text, name, base_dir))


def variable_table(source: Source) -> list[VariableRow]:
    """The portal's variable table (DECLARED / USED / PRE-DEFINED) of a definition, even an
    invalid one: seeing an undeclared variable in the table is how one finds the typo. A
    declared variable names the constructs beyond the portal's form it comes with (PS5xx)."""
    data = open_document(source).data
    return _table(data, extension_marks(data))

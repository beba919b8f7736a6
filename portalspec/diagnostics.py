"""Diagnostics: every problem portalspec finds, as a value with fields.

A diagnostic knows its stable code (``PS###``, listed in ``docs/diagnostics.md``), its
severity, the JSON-style path of the value in the definition (``$.endpoints.add_users.url``)
and, where one exists, the file, line and column that produced it. How it *looks* is decided
at the edge: :meth:`Diagnostic.format` for terminals, :meth:`Diagnostic.to_dict` for JSON.

Every exception class defined in the package, with the module it lives in (a test walks the
package and fails when a class is missing here)::

    Exception
     ├── PortalspecError            diagnostics      base of everything portalspec raises on purpose
     │    ├── DefinitionError       diagnostics      a definition has errors; carries .diagnostics
     │    ├── InputError            diagnostics      values, users or other inputs are unusable (render stage)
     │    │    ├── BodyError        bodies           a body portalspec reads is not usable JSON (size, depth, …)
     │    │    └── StateError       sync.state       the sync state file cannot be opened or used
     │    │         └── StateLocked sync.state       another sync run holds the state file
     │    ├── AmplitudeError        diagnostics      Amplitude's Behavioral Cohorts API refused or failed a call
     │    ├── PayloadMismatch       diagnostics      a body sent to `portalspec serve` does not fit the payload template
     │    ├── DescriptionError      contract.load    an OpenAPI description cannot be used at all; carries .diagnostics (PS601)
     │    └── TransportError        transport        a request could not be delivered; .retryable says if a retry may help
     │         └── TokenError       oauth2           the OAuth2 token endpoint gave no usable access token (or its token was refused)
     ├── _TooManyAliases            loader           internal: a YAML alias bomb; becomes a diagnostic
     ├── _Retryable                 amplitude        internal: one failed Amplitude call worth retrying
     └── ValueError
          ├── JSONPathError         jsonpath         a list_id path is malformed or does not find one id
          ├── SubstitutionError     template         a value cannot stand where its placeholder is
          └── _NotJSON              checks           internal: a payload uses NaN/Infinity; becomes a diagnostic

``JSONPathError`` and ``SubstitutionError`` are caught inside the library and reported as
diagnostics or as an :class:`InputError`/response; only ``PortalspecError`` and its subclasses
are meant to reach a caller.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Callable, Iterable, Sequence, Union

PathElement = Union[str, int]
Path = tuple[PathElement, ...]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"  # not a problem: something worth knowing (a construct beyond the portal's form)


def format_path(path: Sequence[PathElement]) -> str:
    """``("endpoints", "add_users", "url")`` → ``$.endpoints.add_users.url``."""
    out = ["$"]
    for element in path:
        if isinstance(element, int):
            out.append(f"[{element}]")
        elif _IDENTIFIER.match(element):
            out.append(f".{element}")
        else:
            escaped = element.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


def excerpt(text: str, limit: int = 200, *, redact: Callable[[str], str] | None = None,
            fold_space: bool = True) -> str:
    """``text`` cut to at most ``limit`` characters (``…`` marks the cut), for messages.

    ``redact`` runs on the whole text *before* the cut: cutting first could leave part of a
    secret that no longer matches any spelling the redactor knows."""
    if redact is not None:
        text = redact(text)
    if fold_space:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean" hint when exactly one name is close enough to be the intended one."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.7)
    return f"did you mean '{matches[0]}'?" if matches else None


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    severity: Severity = Severity.ERROR
    path: Path = ()
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    hint: str | None = None
    source_line: str | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def json_path(self) -> str:
        return format_path(self.path)

    def located(self, file: str | None, line: int | None, column: int | None,
                source_line: str | None = None) -> "Diagnostic":
        return replace(self, file=file, line=line, column=column, source_line=source_line)

    def location(self) -> str:
        parts = [self.file or "<string>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def format(self) -> str:
        """``FILE:LINE:COL: error[PS###]: message``, then the source line and a caret."""
        head = f"{self.location()}: {self.severity.value}[{self.code}]: {self.message}"
        lines = [head]
        if self.source_line is not None and self.column is not None:
            text = self.source_line.rstrip("\r\n").expandtabs(1)
            lines.append(f"    {text}")
            lines.append("    " + " " * (self.column - 1) + "^")
        details = [f"at {self.json_path}"] if self.path else []
        if self.hint:
            details.append(self.hint)
        if details:
            lines.append("    = " + "; ".join(details))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "path": self.json_path,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
        }

    def sort_key(self) -> tuple[int, int, int, str]:
        # Errors before warnings before notes; then in reading order of the file, so the most
        # relevant problem (the first error) is where a reader's eye starts.
        rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}[self.severity]
        return (rank, self.line or 0, self.column or 0, self.code)


def ranked(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Most relevant first, duplicates (same code, path and message) dropped."""
    seen: set[tuple[str, Path, str]] = set()
    out = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        key = (d.code, d.path, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


class PortalspecError(Exception):
    """Base of every error portalspec raises on purpose."""


class DefinitionError(PortalspecError):
    """A definition has errors. ``.diagnostics`` holds all of them, most relevant first."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error]
        first = errors[0] if errors else (self.diagnostics[0] if self.diagnostics else None)
        summary = first.format().splitlines()[0] if first else "invalid definition"
        more = len(errors) - 1
        super().__init__(summary + (f" (and {more} more error{'s' * (more > 1)})" if more > 0 else ""))


class InputError(PortalspecError):
    """Values, users or another input of rendering is unusable; the message says where."""


class AmplitudeError(PortalspecError):
    """A call to Amplitude's Behavioral Cohorts API failed for good (after any retries).

    ``status`` is the HTTP status when Amplitude answered; ``request_id`` is set when an export
    was requested but could not be waited for or fetched — the request stays valid for days,
    so a caller can fetch it later instead of spending another of the month's downloads.
    """

    def __init__(self, message: str, *, status: int | None = None, request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class PayloadMismatch(PortalspecError):
    """A body received by ``portalspec serve`` does not fit the endpoint's payload template.

    ``path`` is where (``$.userIds[3]``), ``expected`` and ``got`` say how; ``secret`` is
    True when the difference is in a secret variable (the destination answers 401, not 400,
    and neither side's value is shown)."""

    def __init__(self, path: str, expected: str, got: str, secret: bool = False):
        self.path, self.expected, self.got, self.secret = path, expected, got, secret
        super().__init__(f"{path}: expected {expected}, got {got}")

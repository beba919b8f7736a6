"""The ``$`` language: lexing, positions, and compiling a template into segments.

A template is text with ``$name`` / ``${name}`` placeholders (``$$`` is a literal dollar; any
other ``$`` is a syntax error, reported by the checks). Each placeholder is classified by *where* it
stands, from the literal text around it only — never from the values:

- in a JSON template (payloads, item templates): a JSON value position or inside a JSON string;
- in a URL: host, path, query or fragment (a placeholder in the scheme is an error);
- in a header value;
- in a JSONPath (find_list's ``list_id.path``): inside a quoted string literal, where a
  value is escaped so it can only ever be text of that literal; there a ``$`` that does not
  start a name is JSONPath's root, not a syntax error.

The position decides the encoder, so values decide nothing about structure. A compiled
template is a tuple of literal strings and :class:`Slot` s; rendering joins them. There is no
expression, loop or call in the language: it cannot compute, only substitute.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Union
from urllib.parse import quote

from .spliced import Joined, spell

Piece = Union[str, Joined]  # of a rendered text: a Joined block stands for many users' items

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class Position(str, Enum):
    JSON_VALUE = "json value"
    JSON_STRING = "json string"
    URL_SCHEME = "url scheme"
    URL_ORIGIN = "url origin"  # the very start of a URL: a base URL, scheme://host[:port]
    URL_HOST = "url host"
    URL_PATH = "url path"
    URL_QUERY = "url query"
    URL_FRAGMENT = "url fragment"
    HEADER = "header value"
    TEXT = "text"
    JSONPATH_STRING = "jsonpath string"  # inside a quoted string literal of a JSONPath
    JSONPATH = "jsonpath"  # elsewhere in a JSONPath: no value may stand there (a check refuses it)


class Kind(str, Enum):
    """What a template's text is, which decides how placeholders are classified."""

    JSON = "json"
    URL = "url"
    HEADER = "header"
    TEXT = "text"  # plain text encoded as a whole afterwards (an item in a URL's query)
    JSONPATH = "jsonpath"  # a JSONPath whose string literals may hold variables (find_list)


@dataclass(frozen=True)
class Placeholder:
    name: str
    start: int  # offset of the `$` in the template text
    end: int  # offset just past the placeholder
    position: Position


@dataclass(frozen=True)
class TemplateProblem:
    """A syntax problem found while lexing a template (a value, not an exception): checks
    turn it into a PS210 diagnostic at ``offset`` in the template text."""

    message: str
    offset: int


@dataclass(frozen=True)
class Lexed:
    """A template split into literal text and placeholders, in order."""

    text: str
    parts: tuple[Union[str, Placeholder], ...]
    errors: tuple[TemplateProblem, ...] = ()

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    def names(self) -> set[str]:
        return {p.name for p in self.placeholders}


@lru_cache(maxsize=65536)  # the checks and the variable table read every template several times
def lex(text: str, kind: Kind) -> Lexed:
    """Split ``text`` into literals and placeholders classified by position. (The result is
    immutable, so repeated lexing of one text is served from a cache.)"""
    raw: list[Union[str, tuple[str, int, int]]] = []
    errors: list[TemplateProblem] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = text.find("$", i)
        if j < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:j])
        nxt = text[j + 1:j + 2]
        if nxt == "$":
            literal.append("$")
            i = j + 2
            continue
        if nxt == "{":
            m = _BRACED.match(text, j + 1)
            if not m:
                errors.append(TemplateProblem("malformed '${…}': expected a variable name and a closing '}'", j))
                literal.append("$")
                i = j + 1
                continue
            name, end = m.group(1), m.end()
        else:
            m = _NAME.match(text, j + 1)
            if not m and kind is Kind.JSONPATH:
                literal.append("$")  # JSONPath's root ($.items, $[0]), not a variable
                i = j + 1
                continue
            if not m:
                # "$5", "$." …: an accident more often than a price; say so rather than guess.
                errors.append(TemplateProblem("'$' must start a variable name; write '$$' for a literal dollar", j))
                literal.append("$")
                i = j + 1
                continue
            name, end = m.group(0), m.end()
        if literal:
            raw.append("".join(literal))
            literal = []
        raw.append((name, j, end))
        i = end
    if literal:
        raw.append("".join(literal))
    classify = {Kind.JSON: _json_positions, Kind.URL: _url_positions, Kind.HEADER: _header_positions,
                Kind.TEXT: _text_positions, Kind.JSONPATH: _jsonpath_positions}[kind]
    return Lexed(text, tuple(classify(raw)), tuple(errors))


def _json_positions(raw: list) -> Iterable[Union[str, Placeholder]]:
    in_string = escaped = False
    for part in raw:
        if isinstance(part, str):
            for ch in part:
                if escaped:
                    escaped = False
                elif ch == "\\" and in_string:
                    escaped = True
                elif ch == '"':
                    in_string = not in_string
            yield part
        else:
            name, start, end = part
            yield Placeholder(name, start, end, Position.JSON_STRING if in_string else Position.JSON_VALUE)


def _url_positions(raw: list) -> Iterable[Union[str, Placeholder]]:
    position = Position.URL_SCHEME
    raw = [part for part in raw if part != ""]
    if raw and not isinstance(raw[0], str) and raw[0][1] == 0 \
            and not any(isinstance(part, str) and "://" in part for part in raw):
        # A variable that starts a URL without a written scheme is its origin (a base-URL
        # field); what follows is read as after a host.
        name, start, end = raw[0]
        yield Placeholder(name, start, end, Position.URL_ORIGIN)
        raw, position = raw[1:], Position.URL_HOST
    for part in raw:
        if isinstance(part, str):
            k = 0
            if position is Position.URL_SCHEME:
                sep = part.find("://")
                if sep < 0:
                    yield part
                    continue
                position, k = Position.URL_HOST, sep + 3
            for ch in part[k:]:
                if position is Position.URL_HOST and ch == "/":
                    position = Position.URL_PATH
                elif position in (Position.URL_HOST, Position.URL_PATH) and ch == "?":
                    position = Position.URL_QUERY
                elif position is not Position.URL_FRAGMENT and ch == "#":
                    position = Position.URL_FRAGMENT
            yield part
        else:
            name, start, end = part
            yield Placeholder(name, start, end, position)


def _text_positions(raw: list) -> Iterable[Union[str, Placeholder]]:
    for part in raw:
        yield part if isinstance(part, str) else Placeholder(part[0], part[1], part[2], Position.TEXT)


def _jsonpath_positions(raw: list) -> Iterable[Union[str, Placeholder]]:
    quote: str | None = None  # the quote of the string literal we are in, if any
    escaped = False
    for part in raw:
        if isinstance(part, str):
            for ch in part:
                if escaped:
                    escaped = False
                elif quote is not None and ch == "\\":
                    escaped = True
                elif quote is None and ch in "'\"":
                    quote = ch
                elif ch == quote:
                    quote = None
            yield part
        else:
            name, start, end = part
            yield Placeholder(name, start, end, Position.JSONPATH_STRING if quote else Position.JSONPATH)


def _header_positions(raw: list) -> Iterable[Union[str, Placeholder]]:
    for part in raw:
        yield part if isinstance(part, str) else Placeholder(part[0], part[1], part[2], Position.HEADER)


# --- encoders -------------------------------------------------------------------------

class Encoded(str):
    """Text already encoded for where it stands (``$items`` in a URL query: each item
    percent-encoded, joined by the separator): spliced in as it is."""


class RawJSON:
    """Text that is already JSON (the rendered ``$items`` array), as pieces: spliced into the
    output as they are, so a large body is joined once rather than copied at every level."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[Piece]):
        self.pieces = pieces

    def __str__(self) -> str:
        return spell(self.pieces)


class SubstitutionError(ValueError):
    """A value cannot stand where its placeholder is (a newline in a header, say)."""


_c_encode = json.encoder.encode_basestring  # C-accelerated, keeps non-ASCII as UTF-8


def json_string(text: str) -> str:
    """``text`` as a JSON string literal, quotes included; U+2028/2029 escaped too, so the
    body is also safe where it is read as JavaScript."""
    out = _c_encode(text)
    if "\u2028" in out or "\u2029" in out:
        out = out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return out


def as_text(value: Any) -> str:
    """A value's text where text is wanted: JSON spelling for booleans and null."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_json_value(value: Any) -> str:
    if isinstance(value, RawJSON):
        return str(value)  # (Template.pieces splices it without this copy)
    if isinstance(value, str):
        return json_string(value)
    try:
        out = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SubstitutionError(f"cannot be written as JSON ({exc})") from None
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def encode_json_string(value: Any) -> str:
    return json_string(as_text(value))[1:-1]


def encode_path_segment(value: Any) -> str:
    text = as_text(value)
    encoded = quote(text, safe="")
    if encoded.strip(".") == "":
        # "." and ".." are left alone by quote() but mean "this/parent directory" in a path.
        encoded = encoded.replace(".", "%2E")
    return encoded or ""


def encode_query(value: Any) -> str:
    return quote(as_text(value), safe="")


_ORIGIN = re.compile(r"https?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")


def encode_origin(value: Any) -> str:
    """A base URL: ``http(s)://host[:port]`` and nothing more (no path, query or user)."""
    text = as_text(value)
    if not _ORIGIN.fullmatch(text):
        raise SubstitutionError(f"{text!r} is not an origin: scheme://host[:port], http or https, without a path")
    return text


def encode_host(value: Any) -> str:
    text = as_text(value)
    if not _HOST_LABEL.fullmatch(text):  # (not match + `$`: that allows a trailing newline)
        raise SubstitutionError(f"{text!r} is not a valid host name label (letters, digits and '-', at most 63)")
    return text


_HEADER_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # control characters but the tab


def encode_header(value: Any) -> str:
    text = as_text(value)
    for bad, name in (("\r", "a carriage return"), ("\n", "a line feed"), ("\x00", "a NUL byte")):
        if bad in text:
            raise SubstitutionError(f"contains {name}, which would split or end the header")
    other = _HEADER_CONTROL.search(text)
    if other:  # HTTP forbids them in a field value; curl and servers drop or refuse them
        raise SubstitutionError(f"contains a control character (U+{ord(other.group()):04X}), which a header "
                                "value cannot carry")
    return text


_JSONPATH_ESCAPES = {ord("\\"): "\\\\", ord("'"): "\\'", ord('"'): '\\"'}


def encode_jsonpath_string(value: Any) -> str:
    """Text inside a JSONPath string literal (either quote): the backslash and both quotes
    escaped, which is all jsonpath-ng's lexer reads specially there, so a value can neither
    end the literal nor change the path's structure."""
    return as_text(value).translate(_JSONPATH_ESCAPES)


def _no_jsonpath_code(value: Any) -> str:
    raise SubstitutionError("variables in a JSONPath may stand only inside a quoted string ('…')")


def _no_scheme(value: Any) -> str:
    raise SubstitutionError("variables cannot stand in a URL's scheme")


ENCODERS: Mapping[Position, Callable[[Any], str]] = {
    Position.JSON_VALUE: encode_json_value,
    Position.JSON_STRING: encode_json_string,
    Position.URL_SCHEME: _no_scheme,
    Position.URL_ORIGIN: encode_origin,
    Position.URL_HOST: encode_host,
    Position.URL_PATH: encode_path_segment,
    Position.URL_QUERY: encode_query,
    Position.URL_FRAGMENT: encode_query,
    Position.HEADER: encode_header,
    Position.TEXT: as_text,
    Position.JSONPATH_STRING: encode_jsonpath_string,
    Position.JSONPATH: _no_jsonpath_code,
}


# --- compiled templates ---------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    name: str
    position: Position

    def render(self, value: Any) -> str:
        return ENCODERS[self.position](value)


@dataclass(frozen=True)
class Template:
    """A compiled template: literals and slots. ``where`` names it in error messages."""

    where: str
    parts: tuple[Union[str, Slot], ...]

    @classmethod
    def compile(cls, text: str, kind: Kind, where: str) -> "Template":
        lexed = lex(text, kind)
        parts: list[Union[str, Slot]] = []
        for part in lexed.parts:
            if isinstance(part, str):
                if parts and isinstance(parts[-1], str):
                    parts[-1] += part
                else:
                    parts.append(part)
            else:
                parts.append(Slot(part.name, part.position))
        return cls(where, tuple(parts))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, Slot))

    def render(self, env: Mapping[str, Any]) -> str:
        return spell(self.pieces(env))

    def pieces(self, env: Mapping[str, Any]) -> list[Piece]:
        """The rendered text as a list of strings (RawJSON values spliced in, not copied)."""
        out: list[Piece] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = env[part.name]
            if isinstance(value, RawJSON) and part.position is Position.JSON_VALUE:
                out.extend(value.pieces)
                continue
            if isinstance(value, Encoded):
                out.append(value)
                continue
            try:
                out.append(part.render(value))
            except SubstitutionError as exc:
                raise SubstitutionError(f"${part.name} in {self.where}: {exc}") from None
        return out

    def bind(self, env: Mapping[str, Any]) -> "Template":
        """A template with every slot whose value ``env`` knows rendered into literal text.

        Done once per render for what is constant (cohort, fields), so the per-item work
        is only the slots that vary per user.
        """
        parts: list[Union[str, Slot]] = []
        for part in self.parts:
            if isinstance(part, Slot) and part.name in env:
                part = Template(self.where, (part,)).render(env)
            if isinstance(part, str) and parts and isinstance(parts[-1], str):
                parts[-1] += part
            else:
                parts.append(part)
        return Template(self.where, tuple(parts))


# --- optional members -------------------------------------------------------------------

def _member(name: str) -> re.Pattern[str]:
    """A JSON object member whose whole value is ``$name``: ``"key": "$name"`` or ``"key": $name``."""
    var = rf"\$(?:{name}(?![A-Za-z0-9_])|\{{{name}\}})"
    return re.compile(rf'"(?:[^"\\]|\\.)*"\s*:\s*(?:"{var}"|{var})')


def stands_alone(text: str, name: str) -> bool:
    """Every use of ``$name`` in ``text`` is the whole value of a JSON object member, so the
    member can be left out when the value is missing."""
    uses = len(re.findall(rf"\$(?:{name}(?![A-Za-z0-9_])|\{{{name}\}})", text))
    return uses > 0 and uses == len(_member(name).findall(text))


def without_members(text: str, names: Iterable[str]) -> str:
    """``text`` with every member whose value is one of ``names`` left out, and one comma
    beside it, so the object stays JSON."""
    for name in names:
        pattern = _member(name)
        while (found := pattern.search(text)) is not None:
            start, end = found.span()
            after = re.match(r"\s*,\s*", text[end:])
            before = re.search(r",\s*$", text[:start])
            if after:
                text = text[:start] + text[end + after.end():]
            elif before:
                text = text[:before.start()] + text[end:]
            else:
                text = text[:start] + text[end:]
    return text

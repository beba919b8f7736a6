"""Stage 1, loading: YAML text → plain data plus a source map of positions.

PyYAML's composer gives nodes with marks; we build the data ourselves from the node tree so
that every value remembers where it stood, duplicate keys are rejected (PyYAML keeps the last
one silently), alias expansion is bounded (billion laughs), and only JSON-compatible values
come out (timestamps and binary stay the text they were written as).

Problems with the file itself never raise: they come back as diagnostics on the document.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .diagnostics import Diagnostic, Path

MAX_FILE_BYTES = 1024 * 1024
# Nodes built more than once because an alias points at them. A definition shares a few
# headers or error tables by alias; thousands of re-expansions is an attack, not a file.
MAX_ALIAS_EXPANSIONS = 10_000

_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:str",
}


@dataclass(frozen=True)
class Span:
    """Where one value stands: 0-based line/column of its first character, and its style."""

    line: int
    column: int
    end_line: int
    style: str | None  # None (plain), "'", '"', "|" or ">"
    # For block scalars: the column their content lines start at.
    content_indent: int = 0


@dataclass
class SourceMap:
    """Positions of every value (and mapping key) in a loaded document, by path."""

    file: str | None
    lines: list[str]
    values: dict[Path, Span] = field(default_factory=dict)
    keys: dict[Path, Span] = field(default_factory=dict)
    # The text of literal block scalars, to count lines in when mapping an offset.
    block_texts: dict[Path, str] = field(default_factory=dict)

    def source_line(self, line: int) -> str | None:
        """The text of a 1-based line, if it exists."""
        return self.lines[line - 1] if 0 < line <= len(self.lines) else None

    def position(self, path: Path, offset: int | None = None, *, key: bool = False) -> tuple[int, int] | None:
        """1-based (line, column) of the value at ``path`` (its key with ``key=True``).

        ``offset`` points inside a string value: exact for literal block scalars (``|``) and
        single-line scalars without escapes, the start of the value otherwise. A path that is
        not in the map (a missing key, say) falls back to its nearest present ancestor.
        """
        spans = self.keys if key else self.values
        while path not in spans:
            if not path:
                return None
            path, spans = path[:-1], self.values
            offset = None
        span = spans[path]
        if offset is None:
            return span.line + 1, span.column + 1
        if span.style == "|":
            # The value's lines are the file's lines below the indicator, one for one.
            before = self.block_texts.get(path, "")[:offset]
            k = before.count("\n")
            col = offset - (before.rfind("\n") + 1)
            return span.line + 2 + k, span.content_indent + col + 1
        if span.end_line == span.line and span.style is None:
            return span.line + 1, span.column + offset + 1
        if span.end_line == span.line and span.style in ("'", '"'):
            raw = self.lines[span.line][span.column + 1:] if span.line < len(self.lines) else ""
            shift = _raw_offset(raw, offset, span.style)
            if shift is not None:
                return span.line + 1, span.column + 1 + shift + 1
        return span.line + 1, span.column + 1

    def locate(self, diagnostic: Diagnostic, offset: int | None = None, *, key: bool = False) -> Diagnostic:
        """The diagnostic with file, line, column and source line filled from its path."""
        pos = self.position(diagnostic.path, offset, key=key)
        if pos is None:
            return diagnostic.located(self.file, None, None)
        line, column = pos
        return diagnostic.located(self.file, line, column, self.source_line(line))


_ESCAPE_LENGTHS = {"x": 4, "u": 6, "U": 10}


def _raw_offset(raw: str, offset: int, quote: str) -> int | None:
    """The offset in a quoted scalar's source text (after the opening quote) of the value's
    character ``offset``: ``''`` in single quotes and backslash escapes in double quotes
    are one character of the value but several of the source."""
    r = 0
    for _ in range(offset):
        if r >= len(raw):
            return None
        if quote == "'" and raw.startswith("''", r):
            r += 2
        elif quote == '"' and raw[r] == "\\":
            r += _ESCAPE_LENGTHS.get(raw[r + 1:r + 2], 2)
        else:
            r += 1
    return r


@dataclass(frozen=True)
class Document:
    """A loaded YAML document: its data (``None`` when unusable), source map and problems."""

    data: Any
    source: SourceMap
    diagnostics: tuple[Diagnostic, ...] = ()
    base_dir: FsPath | None = None  # where relative paths in the file (the logo) resolve

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def read_document(path: str | os.PathLike[str]) -> Document:
    """Load a YAML file; file-level problems (missing, too large, not UTF-8…) become diagnostics."""
    name = os.fspath(path)
    fs_path = FsPath(name)

    def fail(code: str, message: str, line: int | None = None, column: int | None = None,
             lines: list[str] | None = None) -> Document:
        source = SourceMap(name, lines or [])
        diag = Diagnostic(code, message, file=name, line=line, column=column,
                          source_line=source.source_line(line) if line else None)
        return Document(None, source, (diag,), fs_path.parent)

    try:
        if fs_path.is_dir():
            return fail("PS002", f"'{name}' is a directory, not a definition file")
        size = fs_path.stat().st_size
        if size > MAX_FILE_BYTES:
            return fail("PS003", f"file is {size} bytes; definitions are limited to {MAX_FILE_BYTES} bytes (1 MiB)")
        raw = fs_path.read_bytes()
    except FileNotFoundError:
        return fail("PS001", f"no such file: '{name}'")
    except OSError as exc:
        return fail("PS001", f"cannot read '{name}': {exc.strerror or exc}")
    except ValueError as exc:  # a NUL byte in the path
        return fail("PS001", f"cannot read '{name}': {exc}")
    if len(raw) > MAX_FILE_BYTES:  # the file grew between stat and read
        return fail("PS003", f"file is over {MAX_FILE_BYTES} bytes (1 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        # In characters, like every other column: the line up to the bad byte is valid UTF-8.
        column = len(raw[raw.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8")) + 1
        lines = raw.decode("utf-8", errors="replace").splitlines()
        return fail("PS004", f"not valid UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded", line, column, lines)
    return parse_document(text, name, fs_path.parent)


_FAILED: Any = object()
# Where LibYAML and PyYAML part ways (a differential test in tests/test_loader.py finds them):
# tabs, a BOM inside the text, carriage returns, Unicode line breaks, and where an empty node
# at the very end of a text without a final newline stands.
_ODD = re.compile("[\t\r\ufeff\u0085\u2028\u2029]")


def _fast_compose(text: str) -> Any:
    """The node tree by LibYAML, when PyYAML was built with it: the same nodes and marks, many
    times faster (a 1 MiB definition loads in a fraction of a second). Any problem gives
    ``_FAILED``, and the document is composed again by PyYAML, whose messages we report."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None or _ODD.search(text) or not text.endswith("\n"):
        return _FAILED  # characters the two count or accept differently: PyYAML's reading only
    loader = loader_class(text)
    try:
        return loader.get_single_node()
    except (yaml.YAMLError, RecursionError, ValueError):
        return _FAILED
    finally:
        loader.dispose()


def parse_document(text: str, file: str | None = None, base_dir: FsPath | None = None) -> Document:
    """Load YAML text. Never raises for bad input: problems come back as diagnostics."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    source = SourceMap(file, lines)
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_FILE_BYTES:
        return _single(source, base_dir, "PS003", f"definition is over {MAX_FILE_BYTES} bytes (1 MiB)")
    if not text.strip() or all(not l.strip() or l.lstrip().startswith("#") for l in lines):
        return _single(source, base_dir, "PS005", "the definition is empty")
    node = _fast_compose(text)
    if node is _FAILED:  # say what is wrong exactly as PyYAML's own reader and scanner do
        try:
            loader = yaml.SafeLoader(text)  # (the reader rejects control characters right here)
        except yaml.reader.ReaderError as exc:
            index = exc.position if isinstance(exc.position, int) else 0
            line = text.count("\n", 0, index) + 1
            column = index - (text.rfind("\n", 0, index) + 1) + 1
            return _single(source, base_dir, "PS006", f"YAML syntax error: character #x{exc.character:04x} "
                           "is not allowed in YAML (a control character?)", (line, column))
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or "invalid YAML"
            context = f" ({exc.context})" if exc.context and exc.context_mark else ""
            return _single(source, base_dir, "PS006", f"YAML syntax error: {problem}{context}",
                           (mark.line + 1, mark.column + 1) if mark else None)
        except yaml.YAMLError as exc:
            return _single(source, base_dir, "PS006", f"YAML syntax error: {exc}")
        except RecursionError:
            return _single(source, base_dir, "PS009", "the YAML is nested too deeply")
        finally:
            loader.dispose()
    if node is None or (isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null" and not node.value):
        # (A lone `---` composes to an empty scalar, not to no document.)
        return _single(source, base_dir, "PS005", "the definition is empty")
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else "a single value"
        return _single(source, base_dir, "PS007",
                       f"the top level must be a mapping of keys (portalspec:, name:, …), not {kind}",
                       (node.start_mark.line + 1, node.start_mark.column + 1))
    builder = _Builder(source, lines)
    try:
        data = builder.build(node, ())
    except _TooManyAliases as exc:
        builder.problems.append(Diagnostic(
            "PS009", f"alias expansion exceeds {MAX_ALIAS_EXPANSIONS} nodes (a 'billion laughs' document?)",
            path=exc.path))
        data = None
    except RecursionError:
        builder.problems.append(Diagnostic("PS009", "the YAML is nested too deeply (or an alias refers to itself)"))
        data = None
    diagnostics = tuple(source.locate(d, key=d.code == "PS008" or id(d) in builder.key_problems)
                        for d in builder.problems)
    return Document(data, source, diagnostics, base_dir)


def _single(source: SourceMap, base_dir: FsPath | None, code: str, message: str,
            pos: tuple[int, int] | None = None) -> Document:
    line, column = pos if pos else (None, None)
    diag = Diagnostic(code, message, file=source.file, line=line, column=column,
                      source_line=source.source_line(line) if line else None)
    return Document(None, source, (diag,), base_dir)


class _TooManyAliases(Exception):
    def __init__(self, path: Path):
        self.path = path


class _Builder:
    """Builds plain data from composed nodes, filling the source map as it goes."""

    def __init__(self, source: SourceMap, lines: list[str]):
        self.source = source
        self.lines = lines
        self.seen: set[int] = set()
        self.repeats = 0
        self.problems: list[Diagnostic] = []
        self.key_problems: set[int] = set()  # ids of problems located at a key, not its value

    def build(self, node: Node, path: Path) -> Any:
        if id(node) in self.seen:
            self.repeats += 1
            if self.repeats > MAX_ALIAS_EXPANSIONS:
                raise _TooManyAliases(path)
        self.seen.add(id(node))
        self.source.values.setdefault(path, self._span(node))
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        assert isinstance(node, ScalarNode)  # (a composed node is one of the three)
        return self._scalar(node, path)

    def _span(self, node: Node) -> Span:
        # (LibYAML spells a plain scalar's style "", PyYAML None.)
        style = (getattr(node, "style", None) or None) if isinstance(node, ScalarNode) else None
        indent = 0
        if style in ("|", ">"):
            # Content starts on the first non-blank line after the indicator.
            for text in self.lines[node.start_mark.line + 1:node.end_mark.line + 1]:
                if text.strip():
                    indent = len(text) - len(text.lstrip(" "))
                    break
        return Span(node.start_mark.line, node.start_mark.column, node.end_mark.line, style, indent)

    def _text(self, node: ScalarNode, path: Path, at_key: bool = False) -> str:
        """The scalar's text; a lone surrogate (from a ``"\\ud800"`` escape) cannot be written as
        UTF-8 anywhere downstream, so it is reported and replaced by U+FFFD."""
        if not _SURROGATE.search(node.value):
            return node.value
        diag = Diagnostic("PS004", "not valid Unicode: an escape stands for a lone surrogate (U+D800..U+DFFF), "
                                   "which cannot be written as UTF-8", path=path)
        self.problems.append(diag)
        if at_key:
            self.key_problems.add(id(diag))
        return _SURROGATE.sub("\ufffd", node.value)

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        if node.style == "|":
            self.source.block_texts[path] = node.value
        if node.tag in _JSON_SCALAR_TAGS and node.tag != "tag:yaml.org,2002:str":
            constructor = yaml.SafeLoader("")
            try:
                return constructor.construct_object(node)
            except (yaml.YAMLError, ValueError):
                return node.value
            finally:
                constructor.dispose()
        # Strings, and tags JSON has no type for (timestamps, binary): the text as written.
        return self._text(node, path)

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.update(self._merge(value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Diagnostic("PS010", "mapping keys must be plain strings", path=path))
                continue
            # The text as written: `yes:` is the key "yes", not True.
            key = self._text(key_node, path + (_SURROGATE.sub("\ufffd", key_node.value),), at_key=True)
            child = path + (key,)
            if key in result:
                first = self.source.keys[child]
                self.problems.append(Diagnostic(
                    "PS008", f"duplicate key '{key}' (first defined on line {first.line + 1}); "
                             "YAML would silently keep only the last one", path=child))
                # Point at the duplicate, not the first occurrence.
                self.source.keys[child] = self._span(key_node)
                continue
            self.source.keys[child] = self._span(key_node)
            result[key] = self.build(value_node, child)
        for key, value in merged.items():
            result.setdefault(key, value)  # explicit keys win over merged ones, as in YAML
        return result

    def _merge(self, node: Node, path: Path) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        out: dict[str, Any] = {}
        for source in reversed(sources):  # earlier mappings in a merge list win
            if not isinstance(source, MappingNode):
                self.problems.append(Diagnostic("PS010", "a merge key (<<) takes a mapping or a list of mappings", path=path))
                continue
            out.update(self._mapping(source, path))
        return out

"""Reading a partner's OpenAPI description (3.0 or 3.1, JSON or YAML) from local files only.

:func:`load_description` reads the root file and every local file its ``$ref``\\ s reach,
each parsed once with a fast parser (``json``, libyaml), and hands back a
:class:`Description`: the root's data, a ``jsonschema_path.SchemaPath`` that resolves
``$ref``\\ s lazily through those files (what openapi-core validates with), and the problems
found, as diagnostics that name the description:

- **PS601** (error, raised as :class:`DescriptionError`): a file cannot be read or parsed,
  or the root is not an OpenAPI 3.0/3.1 document;
- **PS602** (warning): it fails openapi-spec-validator (openapi-core's own spec
  validation); it is still used, with that validation off. SendGrid's published description
  is one such (its ``components`` are ``$ref``\\ s to whole files);
- **PS603** (warning): a remote ``$ref`` (``https://…``): never fetched — checks run offline
  and a description must not make portalspec reach the network; the reference is replaced by
  an empty schema, so what it describes is not checked;
- **PS604** (warning): a local ``$ref`` whose JSON pointer finds nothing in its file,
  replaced the same way. (A file it names that cannot be read or parsed is PS601.)

Nothing here imports click or prints; openapi-core is imported only by
:meth:`Description.openapi`. The commands that use this (``check``, ``openapi``, ``init
--from-openapi``) import this module lazily, so ``portalspec --help`` does not pay for it.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any, Iterator, Mapping
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

import yaml
from jsonschema_path import SchemaPath
from openapi_spec_validator.settings import OpenAPISpecValidatorSettings

from ..bodies import BodyError, read_json
from ..diagnostics import Diagnostic, Path, PortalspecError, Severity, excerpt, format_path

if TYPE_CHECKING:
    from openapi_core import OpenAPI

MAX_BYTES = 64 * 1024 * 1024  # all files of one description together
MAX_FILES = 5_000
MAX_DEPTH = 256  # JSON nesting; descriptions nest deeper than answers do
# YAML anchors are kept shared when loaded, but every tool after (spec validation, openapi-core)
# walks them expanded: a few hundred bytes of aliases ("billion laughs") would hang it. The
# published 3 MB descriptions expand to well under a million values.
MAX_EXPANDED = 5_000_000
VERSIONS = ("3.0", "3.1")
_AT = re.compile(r"at line (\d+) column (\d+)$")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class DescriptionError(PortalspecError):
    """An OpenAPI description cannot be used at all; ``.diagnostics`` says why (PS601)."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]):
        self.diagnostics = diagnostics
        super().__init__(diagnostics[0].format().splitlines()[0] if diagnostics else "unusable description")


@dataclass(frozen=True)
class Operation:
    """One operation of a description: ``method`` lowercase, ``path`` the template
    (``/v3/marketing/lists/{id}/contacts``), ``node`` its SchemaPath (``$ref``\\ s followed)."""

    method: str
    path: str
    node: SchemaPath = field(compare=False, repr=False)
    operation_id: str | None = None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}" + (f" ({self.operation_id})" if self.operation_id else "")


@dataclass(frozen=True, eq=False)  # one description is one object: compared and hashed by identity
class Description:
    """A loaded OpenAPI description. ``file`` is the root file as given (diagnostics name it);
    ``version`` is ``"3.0"`` or ``"3.1"``; ``data`` the root document (``$ref``\\ s not
    followed); ``spec`` the same document as a SchemaPath that follows them (``spec / "paths"``);
    ``files`` every file read; ``diagnostics`` the warnings found while loading."""

    file: str
    version: str
    data: Mapping[str, Any] = field(repr=False)
    spec: SchemaPath = field(repr=False, compare=False)
    files: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def title(self) -> str:
        info = self.data.get("info")
        title = info.get("title") if isinstance(info, dict) else None
        return title if isinstance(title, str) and title.strip() else os.path.basename(self.file)

    @property
    def name(self) -> str:
        """How messages name it: ``'Twilio SendGrid v3 API' (tests/data/…/oas_v3.json)``."""
        return f"'{self.title}' ({self.file})"

    @property
    def spec_valid(self) -> bool:
        return not any(d.code == "PS602" for d in self.diagnostics)

    @cached_property
    def openapi(self) -> "OpenAPI":
        """openapi-core's entry point, with its spec validation off: :func:`load_description`
        ran that validation once already and reported a failure as PS602."""
        from openapi_core import Config, OpenAPI

        return OpenAPI(self.spec, config=Config(spec_validator_cls=None))  # type: ignore[arg-type]

    @property
    def servers(self) -> tuple[str, ...]:
        """The root ``servers`` URLs (``/`` when none, as OpenAPI says)."""
        servers = [s.get("url") for s in self.spec.get("servers", [])] if "servers" in self.spec else []
        return tuple(s for s in servers if isinstance(s, str)) or ("/",)

    def operations(self) -> Iterator[Operation]:
        """Every operation, in the order of ``paths`` and then of :data:`HTTP_METHODS`."""
        if "paths" not in self.spec:
            return
        for path, item in (self.spec / "paths").str_items():
            for method in HTTP_METHODS:
                if method in item:
                    node = item / method
                    op_id = node.get("operationId") if "operationId" in node else None
                    yield Operation(method, path, node, op_id if isinstance(op_id, str) else None)

    def operation(self, operation_id: str) -> Operation | None:
        """The operation with this ``operationId``, or None."""
        return next((op for op in self.operations() if op.operation_id == operation_id), None)


def load_description(path: str | os.PathLike[str], *, validate_spec: bool = True) -> Description:
    """Read the description at ``path`` and every local file its ``$ref``\\ s reach.

    Raises :class:`DescriptionError` (PS601) when it cannot be used at all. With
    ``validate_spec`` (the default) openapi-spec-validator runs once; a failure is a PS602
    warning on the result, not an error: the description is still used."""
    file = os.fspath(path)
    reader = _Reader(file)
    root_uri = reader.uri(FsPath(file))
    data = reader.read(root_uri, file)
    if not isinstance(data, dict):
        raise DescriptionError((reader.fail(file, "an OpenAPI description is a mapping (openapi:, info:, paths:, …)"),))
    version = _version(data)
    if version is None:
        said = data.get("openapi", data.get("swagger"))
        raise DescriptionError((reader.fail(file, f"not an OpenAPI 3.0 or 3.1 description (it says "
                                                  f"{'openapi' if 'openapi' in data else 'swagger'}: {said!r}); "
                                                  "portalspec reads OpenAPI 3.0 and 3.1"
                                            if said is not None else
                                            "not an OpenAPI description: it has no 'openapi:' version"),))
    reader.follow(root_uri, data)
    # openapi-spec-validator's own cache size: its walk resolves the same $refs again and
    # again (a third faster on SendGrid's description than no cache, and than a large one).
    spec = SchemaPath.from_dict(data, base_uri=root_uri, handlers=reader.handlers(),
                                resolved_cache_maxsize=OpenAPISpecValidatorSettings().resolved_cache_maxsize)
    diagnostics = list(reader.warnings)
    if validate_spec:
        diagnostics.extend(_spec_problems(file, data, spec))
    return Description(file, version, data, spec, tuple(reader.names), tuple(diagnostics))


def _version(data: Mapping[str, Any]) -> str | None:
    said = data.get("openapi")
    if not isinstance(said, str):
        return None
    return next((v for v in VERSIONS if said == v or said.startswith(v + ".")), None)


def _spec_problems(file: str, data: Mapping[str, Any], spec: SchemaPath) -> Iterator[Diagnostic]:
    """PS602 when openapi-spec-validator finds the description invalid: the first problem,
    located by its path in the root document (the rest are often the same one, repeated)."""
    from openapi_spec_validator.shortcuts import get_validator_cls

    try:
        errors = get_validator_cls(data)(spec).iter_errors()
        first = next(errors, None)
    except Exception as exc:  # the validator itself can trip over a broken description
        yield Diagnostic("PS602", f"openapi-spec-validator could not finish on this description "
                                  f"({type(exc).__name__}: {excerpt(str(exc), 160)}); it is used with that "
                                  "validation off", Severity.WARNING, file=file)
        return
    if first is None:
        return
    where: Path = tuple(getattr(first, "absolute_path", ()))
    message = excerpt(str(getattr(first, "message", first)).splitlines()[0], 160)
    yield Diagnostic("PS602", f"the description does not pass openapi-spec-validator (openapi-core's spec "
                              f"validation): {message}; it is used with that validation off, and parts it "
                              "cannot read are not checked", Severity.WARNING, where, file)


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """libyaml's safe loader, keeping timestamps as the text they were written as (JSON has
    no dates, and an ``example: 2024-01-01`` is a string to the schema)."""


def _timestamp_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_text)


class _Reader:
    """Parses each local file once, follows ``$ref``\\ s, and answers the resolver's reads
    from what it parsed. Remote and dangling references are neutralised in the data it
    hands on (so no later step can reach for them) and reported."""

    def __init__(self, root: str):
        self.root = root
        self.docs: dict[str, Any] = {}  # file URI (no fragment) -> parsed data
        self.names: list[str] = []  # each file as a path relative to the working directory's view
        self.total = 0
        self.warnings: list[Diagnostic] = []

    @staticmethod
    def uri(path: FsPath) -> str:
        return path.resolve().as_uri()

    def fail(self, file: str, message: str, line: int | None = None, column: int | None = None) -> Diagnostic:
        return Diagnostic("PS601", message, file=file, line=line, column=column)

    def read(self, uri: str, shown: str) -> Any:
        """The data of the file at ``uri`` (``shown`` is how messages name it)."""
        if uri in self.docs:
            return self.docs[uri]
        if len(self.docs) >= MAX_FILES:
            raise DescriptionError((self.fail(self.root, f"the description spans more than {MAX_FILES:,} files"),))
        local = FsPath(url2pathname(unquote(urlsplit(uri).path)))
        try:
            raw = local.read_bytes()
        except OSError as exc:
            raise DescriptionError((self.fail(shown, f"cannot read the OpenAPI description: {exc.strerror or exc}"),))
        self.total += len(raw)
        if self.total > MAX_BYTES:
            raise DescriptionError((self.fail(shown, f"the description's files are more than {MAX_BYTES:,} bytes "
                                                     "together"),))
        data = self._parse(raw, shown, local.suffix.lower())
        self.docs[uri] = data
        self.names.append(shown)
        return data

    def _parse(self, raw: bytes, shown: str, suffix: str) -> Any:
        if suffix == ".json" or raw.lstrip()[:1] in (b"{", b"["):
            try:
                return read_json(raw, what="the file", max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
            except BodyError as exc:
                at = _AT.search(str(exc))  # read_json says where JSON parsing stopped
                raise DescriptionError((self.fail(shown, f"not a usable JSON description: {exc}",
                                                  *((int(at[1]), int(at[2])) if at else ())),)) from None
        try:
            text = raw.decode("utf-8")
            data = _plain(yaml.load(text, Loader=_Loader), {})  # noqa: S506 - a safe loader
            _check_expansion(data, shown)
            return data
        except UnicodeDecodeError as exc:
            raise DescriptionError((self.fail(shown, f"not valid UTF-8 (byte {exc.start})"),)) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            raise DescriptionError((self.fail(shown, f"YAML syntax error: {exc.problem}",
                                              mark.line + 1 if mark else None,
                                              mark.column + 1 if mark else None),)) from None
        except (yaml.YAMLError, RecursionError) as exc:
            raise DescriptionError((self.fail(shown, f"not a usable YAML description: {excerpt(str(exc), 160)}"),)) \
                from None

    def follow(self, uri: str, data: Any) -> None:
        """Visit every ``$ref`` reachable from ``data`` (the file at ``uri``), reading the
        local files they name, and neutralising the ones that cannot be followed."""
        seen: set[int] = set()
        stack: list[tuple[str, Any, Path]] = [(uri, data, ())]
        while stack:
            base, node, where = stack.pop()
            if id(node) in seen or not isinstance(node, (dict, list)):
                continue
            seen.add(id(node))
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str):
                    target = self._target(base, ref, node, where)
                    if target is not None:
                        stack.append(target)
                stack.extend((base, value, where + (key,)) for key, value in node.items() if key != "$ref")
            else:
                stack.extend((base, value, where + (i,)) for i, value in enumerate(node))

    def _target(self, base: str, ref: str, node: dict[str, Any], where: Path) -> tuple[str, Any, Path] | None:
        absolute = urljoin(base, ref)
        file_uri, fragment = urldefrag(absolute)
        shown = self._shown(base)
        if urlsplit(file_uri).scheme != "file":
            self._neutralise(node, Diagnostic(
                "PS603", f"remote $ref '{excerpt(ref, 120)}' is not fetched: portalspec reads descriptions only from "
                         "local files; what it describes is not checked", Severity.WARNING, where, shown,
                hint="download the file next to the description and point the $ref at it"))
            return None
        # A file that cannot be read or parsed is an error (PS601) raised from here: half a
        # description would only give misleading "no such operation" errors.
        try:
            doc = self.read(file_uri, self._relative(file_uri))
        except DescriptionError as exc:
            first = exc.diagnostics[0]
            raise DescriptionError((replace(first, message=f"{first.message} (named by $ref '{excerpt(ref, 120)}' "
                                                          f"at {format_path(where)} in {shown})"),)) from None
        target = _pointer(doc, fragment, self._maybe, file_uri)
        if target is _MISSING:
            self._neutralise(node, Diagnostic("PS604", f"$ref '{excerpt(ref, 120)}' points at nothing (no "
                                                       f"'{fragment or '/'}' in {self._relative(file_uri)}); what it "
                                                       "describes is not checked", Severity.WARNING, where, shown))
            return None
        return (file_uri, doc, ())

    def _maybe(self, uri: str) -> Any:
        """The data of a local file, or None when it cannot be read (for pointers met on the way)."""
        if urlsplit(uri).scheme != "file":
            return None
        try:
            return self.read(uri, self._relative(uri))
        except DescriptionError:
            return None

    def _neutralise(self, node: dict[str, Any], diagnostic: Diagnostic) -> None:
        # An empty schema accepts anything: what the reference described goes unchecked, and
        # nothing later (openapi-core, its resolver) can try to fetch or follow it.
        node.clear()
        node["description"] = f"portalspec: {diagnostic.message}"
        self.warnings.append(diagnostic)

    def _shown(self, uri: str) -> str:
        return self.root if uri == self.uri(FsPath(self.root)) else self._relative(uri)

    def _relative(self, uri: str) -> str:
        """A file of the description named as the root is: relative to the root's directory,
        spelled from where the root was given (``tests/data/sendgrid/spec/x.json``)."""
        local = url2pathname(unquote(urlsplit(uri).path))
        try:
            rel = os.path.relpath(local, os.path.dirname(os.path.abspath(self.root)))
        except ValueError:  # another drive
            return local
        return local if rel.startswith("..") else os.path.normpath(os.path.join(os.path.dirname(self.root), rel))

    def handlers(self) -> dict[str, Any]:
        """The resolver's retrievers: files from what was parsed; no network, ever."""

        def local(uri: str) -> Any:
            file_uri = urldefrag(uri)[0]
            if file_uri not in self.docs:
                self.read(file_uri, self._relative(file_uri))
            return self.docs[file_uri]

        def remote(uri: str) -> Any:
            raise DescriptionError((Diagnostic("PS603", f"remote $ref '{uri}' is not fetched", Severity.WARNING,
                                               file=self.root),))

        return {"file": local, "http": remote, "https": remote}


_MISSING: Any = object()


def _pointer(doc: Any, fragment: str, docs: Any, base: str, depth: int = 0) -> Any:
    """The value at JSON pointer ``fragment`` in ``doc`` (following ``$ref``\\ s met on the
    way, as a resolver does), or ``_MISSING``."""
    node = doc
    if depth > 32:
        return _MISSING
    for raw in (fragment.lstrip("/").split("/") if fragment.strip("/") else []):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and isinstance(node.get("$ref"), str) and part not in node:
            file_uri, inner = urldefrag(urljoin(base, node["$ref"]))
            target = docs(file_uri)
            if target is None:
                return _MISSING
            node, base = _pointer(target, inner, docs, file_uri, depth + 1), file_uri
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _plain(value: Any, memo: dict[int, Any]) -> Any:
    """YAML data as JSON data: keys as strings (``200:`` is the status ``"200"``), shared
    (aliased) nodes kept shared, so an alias bomb costs no memory here either."""
    if isinstance(value, dict):
        if id(value) in memo:
            return memo[id(value)]
        out: dict[str, Any] = {}
        memo[id(value)] = out
        for key, item in value.items():
            out[_key(key)] = _plain(item, memo)
        return out
    if isinstance(value, list):
        if id(value) in memo:
            return memo[id(value)]
        items: list[Any] = []
        memo[id(value)] = items
        items.extend(_plain(item, memo) for item in value)
        return items
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def _check_expansion(data: Any, shown: str) -> None:
    """Refuse YAML whose aliases expand past :data:`MAX_EXPANDED` values, or refer to
    themselves: what reads the description next walks every alias expanded."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(value: Any) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key in open_:
            raise DescriptionError((Diagnostic("PS601", "not a usable YAML description: an alias refers to itself",
                                               file=shown),))
        if key not in sizes:
            open_.add(key)
            children = value.values() if isinstance(value, dict) else value
            total = 1
            for child in children:
                total += size(child)
                if total > MAX_EXPANDED:
                    break
            open_.discard(key)
            sizes[key] = total
        return sizes[key]

    if size(data) > MAX_EXPANDED:
        raise DescriptionError((Diagnostic("PS601", f"not a usable YAML description: its aliases expand past "
                                                    f"{MAX_EXPANDED:,} values (a 'billion laughs' document?)",
                                           file=shown),))


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)

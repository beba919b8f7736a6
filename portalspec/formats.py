"""Stage 5, formats: showing :class:`Request` values as JSON, curl, raw HTTP or HAR 1.2. Pure.

Masked secrets (``Request.masked``) show as ``********``; in curl each becomes a shell variable
reference (``"$ACME_BEARER_TOKEN"``) named in a comment above, so the command still runs once
the variable is exported. A runtime variable (OAuth2's access token, which no render can know)
is ``"$ACME_ACCESS_TOKEN"`` in curl and ``$ACME_ACCESS_TOKEN`` in HAR, where tools that import
a HAR file fill such names in; JSON and raw HTTP show it as ``********``, like a secret.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence
from urllib.parse import parse_qsl, urlsplit

from .auth import credential_of, is_runtime
from .masking import MASK
from .spliced import BodyParts, inside_json_string
from .variables import env_name


class Shown(Protocol):
    """What the formats read of a request (:class:`portalspec.Request` is one)."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...

    @property
    def body(self) -> bytes | None: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def items(self) -> int: ...

    @property
    def masked(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def text(self) -> str | None: ...

    @property
    def target(self) -> str: ...

    def apply_mask(self, text: str, replacement: str = MASK) -> str: ...


def to_dict(request: Shown) -> dict[str, Any]:
    """``{"endpoint", "method", "url", "headers": {name: value}, "body"}``; body is the exact text."""
    return {
        "endpoint": request.endpoint,
        "method": request.method,
        "url": request.apply_mask(request.url),
        "headers": {name: request.apply_mask(value) for name, value in request.headers},
        "body": None if request.text is None else request.apply_mask(request.text),
    }


def _used_secrets(request: Shown) -> list[str]:
    texts = [request.url, request.text or ""] + [v for _, v in request.headers]
    return [variable for sentinel, variable in request.masked if any(sentinel in t for t in texts)]


def _secret_names(variable: str) -> list[str]:
    # A derived credential (basic auth's) is masked as one; curl rebuilds it from the variables
    # it is read from (an endpoint's own auth reads custom fields).
    found = credential_of(variable)
    if found is None:
        return [variable]
    method, named = found
    return [named[v.name] for v in method.variables if v.name in named]


def _shell(request: Shown, text: str, prefix: str) -> str:
    """``text`` as one POSIX shell word: single-quoted literal runs, masked secrets as "$VAR"."""
    if not request.masked:
        return shlex.quote(text)
    names = {sentinel: env_name(prefix, variable) for sentinel, variable in request.masked}
    pieces = re.split("(" + "|".join(map(re.escape, names)) + ")", text)
    words = [f'"${{{names[p]}}}"' if p in names else shlex.quote(p) for p in pieces if p]
    return "".join(words) or "''"


def curl_exports(request: Shown, env_prefix: str = "") -> list[str]:
    """Comment lines naming the shell variables a masked curl command needs."""
    names = [(env_name(env_prefix, n), is_runtime(n)) for v in _used_secrets(request) for n in _secret_names(v)]
    if not names:
        return []
    return ["# Secrets are masked; export them first:"] + [
        f"#   export {n}='...'" + ("  # an OAuth2 access token: portalspec test and sync fetch one from token_url"
                                  if runtime else "") for n, runtime in names]


def _shell_names(prefix: str, named: Mapping[str, str]) -> Callable[[str], str]:
    """A method variable → the shell variable of what it is read from ("" for none)."""
    return lambda variable: env_name(prefix, named[variable]) if variable in named else ""


def to_curl(request: Shown, env_prefix: str = "", *, exports: bool = True) -> str:
    """A runnable curl command; every part quoted for a POSIX shell whatever it contains."""
    lines = curl_exports(request, env_prefix) if exports else []
    # --globoff: [] and {} in a URL are text, not curl's globbing; --path-as-is: send the path
    # exactly as rendered.
    parts = [f"curl --globoff --path-as-is -X {request.method} {_shell(request, request.url, env_prefix)}"]
    credentials = [(found, s) for s, v in request.masked if (found := credential_of(v)) is not None]
    for name, value in request.headers:
        option = next((o for (method, named), sentinel in credentials
                       if (o := method.curl(value, sentinel, _shell_names(env_prefix, named))) is not None), None)
        if option is not None:
            parts.append(option)
        elif not value.strip(" \t"):
            parts.append(f"-H {_shell(request, f'{name};', env_prefix)}")  # curl drops 'Name: ' but sends 'Name;' empty
        else:
            parts.append(f"-H {_shell(request, f'{name}: {value}', env_prefix)}")
    if request.text is not None:
        parts.append(f"--data-raw {_shell(request, request.text, env_prefix)}")
    lines.append(" \\\n  ".join(parts))
    return "\n".join(lines)


def to_http(request: Shown) -> str:
    """The raw HTTP/1.1 message (CRLF line ends), with Host and Content-Length as sent."""
    parts = urlsplit(request.url)
    head = [f"{request.method} {request.target} HTTP/1.1", f"Host: {parts.netloc}"]
    head += [f"{name}: {value}" for name, value in request.headers]
    body = request.apply_mask(request.text) if request.text is not None else None
    if body is not None:
        head.append(f"Content-Length: {len(body.encode('utf-8'))}")  # of the body as shown
    return request.apply_mask("\r\n".join(head)) + "\r\n\r\n" + (body or "")


def _har_text(request: Shown, text: str, prefix: str) -> str:
    """``text`` masked, each runtime variable as ``$PREFIX_NAME`` (a name HAR tools fill in)."""
    for sentinel, variable in request.masked:
        if is_runtime(variable):
            text = text.replace(sentinel, "$" + env_name(prefix, variable))
    return request.apply_mask(text)


def to_har_entry(request: Shown, started: str = "1970-01-01T00:00:00.000Z", env_prefix: str = "") -> dict[str, Any]:
    """A HAR 1.2 entry; the response is empty (nothing was sent)."""
    url = request.apply_mask(request.url)
    text = request.apply_mask(request.text) if request.text is not None else None
    har_request: dict[str, Any] = {
        "method": request.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": [{"name": n, "value": _har_text(request, v, env_prefix)} for n, v in request.headers],
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": len(text.encode("utf-8")) if text is not None else 0,  # of the body as shown, like to_http
    }
    if text is not None:
        har_request["postData"] = {"mimeType": "application/json", "text": text}
    return {
        "startedDateTime": started,
        "time": 0,
        "request": har_request,
        "response": {"status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
                     "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1, "bodySize": -1},
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "comment": request.endpoint,
    }


@dataclass(frozen=True)
class FormatOptions:
    env_prefix: str = ""  # curl (and HAR, for a runtime token): the prefix of the variables that hold secrets
    started: str = "1970-01-01T00:00:00.000Z"  # HAR: each entry's startedDateTime
    version: str = ""  # HAR: the creator's version


def _write_curl(requests: Iterable[Shown], options: FormatOptions) -> Iterator[str]:
    shown: list[str] = []
    for i, request in enumerate(requests):
        exports = curl_exports(request, options.env_prefix)
        if exports and exports != shown:  # say it once, and again only if it changes
            yield ("\n" if i else "") + "\n".join(exports) + "\n"
            shown = exports
        users = f" ({request.items} user{'s' * (request.items != 1)})" if request.items else ""
        yield ("\n" if i else "") + f"# {request.endpoint}{users}\n"
        yield to_curl(request, options.env_prefix, exports=False) + "\n"


def _write_http(requests: Iterable[Shown], options: FormatOptions) -> Iterator[str]:
    for i, request in enumerate(requests):
        yield ("\r\n" if i else "") + to_http(request) + "\r\n"


def _write_json(requests: Iterable[Shown], options: FormatOptions) -> Iterator[str]:
    yield from _json_array((to_dict(r) for r in requests), "")


def _write_har(requests: Iterable[Shown], options: FormatOptions) -> Iterator[str]:
    log = {"version": "1.2", "creator": {"name": "portalspec", "version": options.version},
           "entries": [to_har_entry(r, options.started, options.env_prefix) for r in requests]}
    yield json.dumps({"log": log}, indent=2, ensure_ascii=False) + "\n"


# The output formats, one entry each: a writer streaming text chunks of the requests.
FORMATS: Mapping[str, Callable[[Iterable[Shown], FormatOptions], Iterator[str]]] = {
    "json": _write_json,
    "curl": _write_curl,
    "http": _write_http,
    "har": _write_har,
}


def format_bytes(requests: Iterable[Shown], fmt: str, *, env_prefix: str = "",
                 started: str = "1970-01-01T00:00:00.000Z", version: str = "") -> Iterator[bytes]:
    """:func:`format_requests` as UTF-8 bytes, for a binary file: the same bytes, but JSON is
    written straight from each body's bytes (escaped once, with no text round trip)."""
    if fmt != "json":
        for chunk in format_requests(requests, fmt, env_prefix=env_prefix, started=started, version=version):
            yield chunk.encode("utf-8")
        return
    pending = iter(requests)
    first = next(pending, None)  # nothing is written before the first request has rendered
    yield from _json_array_bytes(itertools.chain([first], pending) if first is not None else ())


def _json_array_bytes(requests: Iterable[Shown]) -> Iterator[bytes]:
    """Exactly ``"".join(_write_json(requests)).encode()``, without decoding each body."""
    yield b"["
    first = True
    for request in requests:
        body = request.body
        item = {"endpoint": request.endpoint, "method": request.method, "url": request.apply_mask(request.url),
                "headers": {name: request.apply_mask(value) for name, value in request.headers}, "body": None}
        text = json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        lead = b"\n  " if first else b",\n  "
        first = False
        if body is None:
            yield lead + text.encode("utf-8")
            continue
        assert text.endswith(_NULL_TAIL)
        masks = [(sentinel.encode("utf-8"), _MASK_BYTES) for sentinel, _ in request.masked]
        yield lead + text[:-len(_NULL_TAIL)].encode("utf-8") + b'"'
        parts = getattr(request, "parts", None)  # a Request's (not every Shown has them)
        if isinstance(parts, BodyParts) and parts.data is body:
            yield parts.inside_json_string(masks)
        else:
            for sentinel, mask in masks:
                body = body.replace(sentinel, mask)
            yield inside_json_string(body)
        yield b'"\n  }'
    yield b"\n]\n" if not first else b"]\n"


_NULL_TAIL = "null\n  }"
_MASK_BYTES = MASK.encode("utf-8")


def format_requests(requests: Iterable[Shown], fmt: str, *, env_prefix: str = "",
                    started: str = "1970-01-01T00:00:00.000Z", version: str = "") -> Iterator[str]:
    """Text chunks of ``requests`` in ``fmt``, streamed (a large render never sits in memory whole).

    Nothing is yielded until the first request has rendered, so a problem with the values or
    the cohort (found before the first request) leaves no half document behind."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    pending = iter(requests)
    first = next(pending, None)
    chained: Iterable[Shown] = itertools.chain([first], pending) if first is not None else ()
    yield from FORMATS[fmt](chained, FormatOptions(env_prefix, started, version))


def _json_array(items: Iterable[dict[str, Any]], indent: str) -> Iterable[str]:
    yield "["
    first = True
    for item in items:
        text = json.dumps(item, indent=2, ensure_ascii=False)
        # json.dumps escapes "\n" inside strings, so every "\n" here is between tokens; not
        # splitlines(), which also breaks at U+0085, U+2028 … inside strings and so made
        # invalid JSON of a header holding one.
        yield ("\n" if first else ",\n") + indent + "  " + text.replace("\n", "\n" + indent + "  ")
        first = False
    yield ("\n" + indent + "]" if not first else "]") + ("\n" if not indent else "")


__all__: Sequence[str] = ("FORMATS", "FormatOptions", "Shown", "format_bytes", "format_requests", "to_curl", "to_dict",
                          "to_har_entry", "to_http")

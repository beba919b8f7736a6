"""A rendered HTTP request: an immutable value, built by rendering, sent by transport.

When secrets are masked, their values in the request are sentinels (see ``render``);
``masked`` maps each sentinel to the variable it stands for, and the formats show it as
``********`` (or, in curl, a shell variable the reader exports).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import formats
from .headers import Headers
from .masking import MASK
from .spliced import BodyParts


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Headers  # a plain tuple of (name, value) pairs is taken too
    body: bytes | None
    endpoint: str = ""
    items: int = 0  # users in this request's batch (0 for create_list)
    masked: tuple[tuple[str, str], ...] = ()  # (sentinel, variable name)
    # The parts the body was spliced from, when rendering kept them: its JSON spelling is then
    # cheap (formats). Not part of the value; trusted only while parts.data *is* the body.
    parts: BodyParts | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))

    @property
    def text(self) -> str | None:
        return None if self.body is None else self.body.decode("utf-8")

    @property
    def target(self) -> str:
        """Path and query, as on an HTTP/1.1 request line."""
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def apply_mask(self, text: str, replacement: str = MASK) -> str:
        """``text`` with every masked sentinel shown as ``replacement``."""
        for sentinel, _ in self.masked:
            text = text.replace(sentinel, replacement)
        return text

    def unmask(self, text: str, replacement: str = MASK) -> str:
        """Deprecated: the old, misleading name of :meth:`apply_mask` (it hides, not reveals)."""
        warnings.warn("Request.unmask is deprecated; use Request.apply_mask", DeprecationWarning, stacklevel=2)
        return self.apply_mask(text, replacement)

    def to_dict(self) -> dict[str, Any]:
        return formats.to_dict(self)

    def to_curl(self, env_prefix: str = "") -> str:
        return formats.to_curl(self, env_prefix)

    def to_http(self) -> str:
        return formats.to_http(self)

    def to_har_entry(self, started: str = "1970-01-01T00:00:00.000Z", env_prefix: str = "") -> dict[str, Any]:
        return formats.to_har_entry(self, started, env_prefix)

"""Hiding secrets in what portalspec shows: request logs, endpoint-test reports, error bodies.

Rendering masks secrets with sentinels *before* they are placed (a bound integration that
does not reveal secrets); this is the other half, for text that already carries the real
values — a request that was sent, a response that echoes a key. Every spelling a secret can
take on the wire is masked: as typed, JSON-escaped, percent-encoded, and the derived forms
its auth method declares (the base64 basic-auth credential).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote

from .model import Definition
from .template import as_text, json_string

MASK = "********"


@dataclass(frozen=True)
class Masker:
    """Replaces each known secret spelling by ``********``, longest first (so a secret that
    contains another is masked whole)."""

    spellings: tuple[str, ...] = ()

    @classmethod
    def for_values(cls, definition: Definition, env: Mapping[str, Any]) -> "Masker":
        """The masker for resolved field values (``values.resolve_fields``)."""
        found: set[str] = set()
        for name in definition.secret_variables:
            text = as_text(env.get(name, ""))
            if text:
                found.update({text, json_string(text)[1:-1], quote(text, safe="")})
        if any(as_text(env.get(name, "")) for name in definition.auth.variables):
            found.update(definition.auth.scheme.derived(env))
        return cls(tuple(sorted(found, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for spelling in self.spellings:
            if spelling in text:
                text = text.replace(spelling, MASK)
        return text

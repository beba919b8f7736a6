"""The one redactor: hiding secrets in every text that leaves the process.

Rendering masks secrets with sentinels *before* they are placed (a bound integration that
does not reveal secrets); this is the other half, for text that already carries the real
values — a request that was sent, a response that echoes a key, an error, a log line, a
state file. It is built from the values' provenance (the auth variables and ``secret: true``
fields) and knows every spelling of a secret that a transport can produce:

- as typed, and as each template position writes it (:data:`portalspec.template.ENCODERS`:
  JSON string, URL path segment, query, header …);
- JSON with non-ASCII escaped (``\\u00e9``), and with ``/`` escaped as ``\\/`` (PHP, Java);
- percent-encoding in upper and lower case, and form encoding (space as ``+``);
- the bytes' ``repr`` (``b'...\\xc3\\xa9'``), as a traceback or a log of bytes shows them;
- the derived forms its auth methods declare (basic auth's base64 credential), the
  definition's and each endpoint's own.

Apply it to a whole text *before* cutting it (:func:`portalspec.diagnostics.excerpt` takes
it): a cut can leave part of a secret that no spelling matches any more.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import quote, quote_plus

from .model import Definition
from .template import ENCODERS, Position, SubstitutionError, as_text

MASK = "********"
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def spellings(secret: str) -> set[str]:
    """Every way ``secret`` can appear in text portalspec sends, receives or shows."""
    found = {secret}
    for position, encode in ENCODERS.items():
        if position in (Position.URL_SCHEME, Position.URL_HOST, Position.JSON_VALUE):
            continue  # a secret cannot stand there (scheme, host) or is the JSON string below
        try:
            found.add(encode(secret))
        except SubstitutionError:
            continue
    for dumped in (json.dumps(secret, ensure_ascii=False)[1:-1], json.dumps(secret)[1:-1]):
        found.update({dumped, dumped.replace("/", "\\/")})
    percent = {quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret, safe="/")}
    found.update(percent)
    found.update(_PERCENT.sub(lambda m: m.group(0).lower(), p) for p in percent)
    found.add(repr(secret.encode("utf-8", "surrogatepass"))[2:-1])
    return {s for s in found if s}


@dataclass(frozen=True)
class Masker:
    """Replaces each known secret spelling by ``********``, longest first (so a secret that
    contains another is masked whole)."""

    spellings: tuple[str, ...] = ()

    @classmethod
    def for_secrets(cls, secrets: Iterable[str], derived: Iterable[str] = ()) -> "Masker":
        """The masker of these secret values (empty ones ignored) and their derived forms."""
        return cls().including([*secrets, *derived])

    @classmethod
    def for_values(cls, definition: Definition, env: Mapping[str, Any],
                   sent: Mapping[str, Any] | None = None) -> "Masker":
        """The masker for resolved field values (``values.resolve_fields``) and, when their
        transforms change them, the ``sent`` values too."""
        secrets = [as_text(values.get(name, "")) for values in (env, sent or {})
                   for name in sorted(definition.secret_variables)]
        derived: list[str] = []
        for auth in definition.auths:  # the definition's, and each endpoint's own
            if any(as_text(env.get(name, "")) for name in auth.variables):
                derived += auth.derived(env)
        return cls.for_secrets(secrets, derived)

    def including(self, secrets: Iterable[str]) -> "Masker":
        """This masker, also hiding ``secrets`` (learnt at run time: an OAuth2 access token)."""
        found = set(self.spellings)
        for secret in secrets:
            if secret:
                found |= spellings(secret)
        return Masker(tuple(sorted(found, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for spelling in self.spellings:
            if spelling in text:
                text = text.replace(spelling, MASK)
        return text

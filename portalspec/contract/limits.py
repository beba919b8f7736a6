"""Limits a description states in words or vendor extensions, for ``check`` to compare with
what a definition declares (``rate_limit``, ``max_body_bytes``).

Descriptions rarely state limits in schema keywords (``maxItems`` aside, which ``check``
reads directly): they say "Rate limit: 10 requests per second" in an operation's
``description``, or carry a vendor extension such as ``x-rateLimit``. Each kind of limit is
one :class:`LimitKind` in :data:`LIMITS`: the definition keys that declare it, the phrases
and extension names that state it. Finding a statement is a hint worth a warning, never a
parsed number: the words are the vendor's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from jsonschema_path import SchemaPath

from ..diagnostics import excerpt
from . import schemas


@dataclass(frozen=True)
class LimitKind:
    name: str  # "rate", "size"
    declared_by: str  # the definition key that declares it (message and hint)
    words: re.Pattern[str]  # a statement of it in prose
    extension: re.Pattern[str]  # a vendor extension's name stating it


LIMITS = (
    LimitKind("rate", "rate_limit",
              re.compile(r"rate[- ]?limit|throttl|\b\d[\d,.]*\s+(?:requests?|calls?)\s+(?:per|every|each|a|/)\s*\w+"
                         r"|requests? per (?:second|minute|hour|day)", re.I),
              re.compile(r"^x-.*(?:rate-?limit|ratelimit|throttl)", re.I)),
    LimitKind("size", "max_body_bytes",
              re.compile(r"\b\d[\d,.]*\s*(?:[kmg]i?b|bytes|kilobytes|megabytes)\b"
                         r"|(?:body|payload|request) size|too large", re.I),
              re.compile(r"^x-.*(?:max-?body|body-?size|payload-?size|size-?limit|max-?size)", re.I)),
)


@dataclass(frozen=True)
class Statement:
    kind: LimitKind
    where: str  # "the operation's description", "x-rateLimit"
    text: str  # the words, cut to a sentence


def statements(operation: SchemaPath, path_item: SchemaPath, root: Mapping[str, Any]) -> Iterator[Statement]:
    """Every limit the operation (its own text and extensions, its path item's, and the
    description's root extensions) states, at most one per kind."""
    sources: list[tuple[str, Any]] = []
    for owner, label in ((operation, "operation"), (path_item, "path item")):
        for key in ("description", "summary"):
            text = schemas.get(owner, key)
            if isinstance(text, str):
                sources.append((f"the {label}'s {key}", text))
        value = owner.read_value() if schemas.is_mapping(owner) else {}
        sources.extend((key, v) for key, v in value.items() if isinstance(key, str) and key.startswith("x-"))
    sources.extend((key, v) for key, v in root.items() if isinstance(key, str) and key.startswith("x-"))
    for kind in LIMITS:
        for where, value in sources:
            if where.startswith("x-"):
                if kind.extension.match(where):
                    yield Statement(kind, where, excerpt(repr(value) if not isinstance(value, str) else value, 120))
                    break
            else:
                found = kind.words.search(value)
                if found:
                    yield Statement(kind, where, _sentence(value, found.start()))
                    break


def _sentence(text: str, at: int) -> str:
    """The sentence around ``at``, cut for a message."""
    start = max(text.rfind(". ", 0, at), text.rfind("\n", 0, at)) + 1
    end = min((i for i in (text.find(". ", at), text.find("\n", at)) if i != -1), default=len(text))
    return excerpt(text[start:end].strip(" *.") + ".", 160)

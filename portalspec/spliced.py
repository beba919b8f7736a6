"""A large body kept as the parts it was spliced from, so that it can be spelt two ways cheaply.

A batch of 10,000 users renders to a body of megabytes, nearly all of it one item repeated
around each user's value. :class:`Joined` keeps those values as one UTF-8 block, a newline
between each (a value that may stand here holds no control character), and the separator
apart: the body is one ``bytes.replace``, and so is its spelling *inside a JSON string* — the
``"body"`` that ``render --format json`` writes — since only the separator holds quotes. No
megabyte-long string is built, encoded, scanned for control characters and escaped again.

:class:`BodyParts` is a body as such parts: bytes as they are, and :class:`Joined` blocks.
"""

from __future__ import annotations

import json
from typing import Iterable, Sequence

_CONTROL_BYTES = bytes(range(0x20))


def inside_json_string(body: bytes) -> bytes:
    """UTF-8 ``body`` as json.dumps(ensure_ascii=False) writes it inside a string's quotes.

    Without a backslash or a control character only the quotes change (a UTF-8 multi-byte
    sequence never holds an ASCII byte), so one bytes ``replace`` does it; else the C encoder."""
    if b"\\" not in body and len(body.translate(None, _CONTROL_BYTES)) == len(body):
        return body.replace(b'"', b'\\"')
    return json.encoder.encode_basestring(body.decode("utf-8"))[1:-1].encode("utf-8")


class Joined:
    """Values joined by ``separator``, as ``lines``: the values' UTF-8, a newline between each."""

    __slots__ = ("lines", "separator")

    def __init__(self, lines: bytes, separator: bytes):
        self.lines = lines
        self.separator = separator

    @classmethod
    def of(cls, values: Sequence[str], separator: str) -> "Joined | None":
        """``values`` joined, or None unless each is a string that JSON spells as it is between
        quotes (no quote, backslash, control character, U+2028 or U+2029) and can be UTF-8."""
        try:
            text = "\n".join(values)
            lines = text.encode("utf-8")
            glue = separator.encode("utf-8")
        except (TypeError, UnicodeEncodeError):
            return None
        if '"' in text or "\\" in text or "\u2028" in text or "\u2029" in text:
            return None
        if len(lines.translate(None, _CONTROL_BYTES)) != len(lines) - len(values) + 1:
            return None  # a control character (a newline too) in a value
        return cls(lines, glue)

    def data(self) -> bytes:
        return self.lines.replace(b"\n", self.separator)

    def __str__(self) -> str:
        return self.data().decode("utf-8")


def spell(pieces: Sequence[str | Joined]) -> str:
    """The text of rendered pieces, a :class:`Joined` block spelt out where there is one."""
    try:
        return "".join(pieces)  # type: ignore[arg-type]  # text alone, the usual: joined as it is
    except TypeError:
        return "".join(map(str, pieces))


class BodyParts:
    """A body as bytes and :class:`Joined` parts; ``data`` is the body, built once."""

    __slots__ = ("parts", "data")

    def __init__(self, pieces: Iterable[str | Joined]):
        """From rendered pieces: each run of text encoded as one part (UnicodeEncodeError for a
        lone surrogate, as ``str.encode``)."""
        parts: list[bytes | Joined] = []
        text: list[str] = []
        for piece in pieces:
            if isinstance(piece, Joined):
                parts.extend(["".join(text).encode("utf-8"), piece])
                text = []
            else:
                text.append(piece)
        parts.append("".join(text).encode("utf-8"))
        self.parts = tuple(parts)
        self.data = b"".join(p.data() if isinstance(p, Joined) else p for p in self.parts)

    def inside_json_string(self, masked: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
        """:func:`inside_json_string` of the body with each (sentinel, mask) replaced, part by
        part: a sentinel stands for a secret, which only the template's text and the separator
        can hold (the values are users')."""
        out: list[bytes] = []
        for part in self.parts:
            text = part.separator if isinstance(part, Joined) else part
            for sentinel, mask in masked:
                text = text.replace(sentinel, mask)
            out.append(part.lines.replace(b"\n", inside_json_string(text)) if isinstance(part, Joined)
                       else inside_json_string(text))
        return b"".join(out)

"""Reading JSON that someone else wrote: a destination's answer, Amplitude's, a sender's body.

One bounded parser for every body portalspec reads, so that no answer can crash a run or be
stored half-understood. It refuses, with a message saying why:

- a body larger than ``max_bytes``;
- text that is not UTF-8, or not JSON;
- nesting deeper than ``max_depth`` (every later walk over the value stays shallow);
- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON; they would make portalspec's own JSON
  output invalid);
- numbers too long to be numbers (more than :data:`MAX_NUMBER_DIGITS` digits, or past a
  float's range);
- strings holding a lone surrogate (``"\\ud800"``), which no UTF-8 output can carry.

:class:`BodyError` is an :class:`~portalspec.diagnostics.InputError`: callers that already
turn input problems into reports, 400s or messages need nothing new.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .diagnostics import InputError

MAX_BYTES = 16 * 1024 * 1024  # an answer, not a download
MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 400
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BodyError(InputError):
    """A body that portalspec reads is not usable JSON: too large, too deep, malformed."""


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of {len(text):,} digits")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of {len(text):,} digits")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond what a number can hold")
    return value


def read_json(data: bytes | str, *, what: str = "the body", max_bytes: int = MAX_BYTES,
              max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``data``, or :class:`BodyError` naming ``what`` and the reason."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise BodyError(f"{what} is {len(raw):,} bytes, more than the {max_bytes:,} portalspec reads")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"{what} is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except json.JSONDecodeError as exc:
        raise BodyError(f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # NaN/Infinity, or an integer past Python's digit limit
        raise BodyError(f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise BodyError(f"{what} is nested too deeply (more than {max_depth} levels)") from None
    if raw.count(b"[") + raw.count(b"{") > max_depth or _SURROGATE_ESCAPE.search(raw):
        _check(value, what, max_depth, lone_surrogates=bool(_SURROGATE_ESCAPE.search(raw)))
    return value


def _check(value: Any, what: str, max_depth: int, *, lone_surrogates: bool) -> None:
    """Depth and (when the text escapes surrogates) lone surrogates, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > max_depth:
                raise BodyError(f"{what} is nested too deeply (more than {max_depth} levels)")
            children = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in children:
                if lone_surrogates and isinstance(key, str):
                    _text(key, what)
                stack.append((child, depth + 1))
        elif lone_surrogates and isinstance(node, str):
            _text(node, what)


def _text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BodyError(f"{what} holds a lone surrogate (U+{ord(text[exc.start]):04X}), "
                        "which is not text") from None

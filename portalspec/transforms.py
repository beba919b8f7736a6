"""Value transforms: named steps a definition applies to a field's value before encoding it.

One table entry per transform (the schema's ``transform`` enum lists the same names). They
work on text: a number or boolean is first written as its JSON text. Ad platforms match
users by normalised, hashed identifiers — Meta's Custom Audiences and Google's Customer
Match both ask for emails trimmed and lowercased, then SHA-256 as lowercase hex — so
``[email, sha256]`` is the usual chain. Hashing is not masking: the result is still the
user's data and is shown as it is sent.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

from .template import as_text

_NOT_DIGIT = re.compile(r"\D+")

TRANSFORMS: Mapping[str, Callable[[str], str]] = {
    "trim": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    # Meta and Google: "trim leading and trailing whitespace and convert all characters to lowercase"
    "email": lambda text: text.strip().lower(),
    "digits": lambda text: _NOT_DIGIT.sub("", text),
    "sha256": lambda text: hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
}


def apply(names: Sequence[str], value: Any) -> Any:
    """``value`` through each named transform in order (a value without transforms as it is)."""
    if not names or value is None or value == "":  # a missing value stays missing
        return value
    text = as_text(value)
    for name in names:
        text = TRANSFORMS[name](text)
    return text


def apply_all(names: Sequence[str], values: Iterable[Any]) -> list[Any]:
    """A column of values through the same transforms."""
    steps = [TRANSFORMS[name] for name in names]
    out: list[Any] = []
    for value in values:
        if value is None or value == "":  # a missing value stays missing
            out.append(value)
            continue
        text = as_text(value)
        for step in steps:
            text = step(text)
        out.append(text)
    return out

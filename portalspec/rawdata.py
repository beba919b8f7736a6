"""Reading the raw loaded data of a definition, before (or without) the schema's word on it.

The checks, the variable table, the extensions table and diff all walk data that may be of
any shape — a list where a mapping belongs, say — and look only at values of the type they
expect. These are the few readers they share, so that "not a mapping" means the same thing
everywhere.
"""

from __future__ import annotations

from typing import Any, Iterator


def as_dict(value: Any) -> dict[Any, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def fields(data: Any, key: str) -> Iterator[tuple[int, dict[Any, Any]]]:
    """(index, field) of each mapping in ``data[key]`` (``custom_fields`` or ``mapping_fields``)."""
    for i, spec in enumerate(as_list(as_dict(data).get(key))):
        if isinstance(spec, dict):
            yield i, spec


def endpoints(data: Any) -> Iterator[tuple[str, dict[Any, Any]]]:
    """(name, spec) of each endpoint given as a mapping."""
    for name, spec in as_dict(as_dict(data).get("endpoints")).items():
        if isinstance(spec, dict):
            yield str(name), spec

"""Finding the list id in a response with the definition's JSONPath (``listId``,
``$.listId``, ``response.data.id``). The checks use it on ``example_response``; rendering and
sending use it on real responses, so both read a path the same way.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonpath_ng.ext import parse as _parse
from jsonpath_ng.jsonpath import Child, Fields, Index, Root

_UNSET = object()


class JSONPathError(ValueError):
    """The path is malformed (``about_document`` False) or does not find exactly one id."""

    def __init__(self, message: str, about_document: bool):
        super().__init__(message)
        self.about_document = about_document


@lru_cache(maxsize=256)
def compile_path(path: str) -> Any:
    try:
        return _parse(path)
    except Exception as exc:  # jsonpath-ng's PLY parser raises plain Exception subclasses
        raise JSONPathError(f"'{path}' is not a valid JSONPath: {exc}", about_document=False) from None


def find_list_id(path: str, document: Any = _UNSET) -> str | int | float:
    """The single string or number at ``path`` in ``document`` (only checks the path if none)."""
    expr = compile_path(path)
    if document is _UNSET or document is None:
        return ""
    try:
        found = [m.value for m in expr.find(document)]
    except Exception as exc:  # a filter comparing incomparable values, say
        raise JSONPathError(f"'{path}' cannot be evaluated on the response: {exc}", about_document=True) from None
    if len(found) != 1:
        what = "nothing" if not found else f"{len(found)} values"
        raise JSONPathError(f"list_id path '{path}' finds {what} in the response; it must find exactly one id",
                            about_document=True)
    value = found[0]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise JSONPathError(f"list_id path '{path}' finds {type(value).__name__} {value!r}; "
                            "the list id must be a string or a number", about_document=True)
    return value


def path_steps(path: str) -> tuple[str | int, ...] | None:
    """The keys and indices a plain path walks (``response.data.id`` → ``('response', 'data',
    'id')``, ``$.a[0]`` → ``('a', 0)``), or None for a path that searches (filters, wildcards,
    slices, several fields): the OpenAPI export describes where a plain path's id stands."""

    def steps(expr: Any) -> tuple[str | int, ...] | None:
        if isinstance(expr, Root):
            return ()
        if isinstance(expr, Fields) and len(expr.fields) == 1 and expr.fields[0] != "*":
            return (str(expr.fields[0]),)
        if isinstance(expr, Index):
            # (jsonpath-ng before 1.7 kept one `index`; later ones a tuple of `indices`)
            indices = getattr(expr, "indices", None) or (getattr(expr, "index", None),)
            if len(indices) == 1 and isinstance(indices[0], int) and indices[0] >= 0:
                return (indices[0],)
        if isinstance(expr, Child):
            left, right = steps(expr.left), steps(expr.right)
            return None if left is None or right is None else left + right
        return None

    return steps(compile_path(path))

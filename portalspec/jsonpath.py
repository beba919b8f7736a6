"""Finding the list id in a response with the definition's JSONPath (``listId``,
``$.listId``, ``response.data.id``). The checks use it on ``example_response``; rendering and
sending use it on real responses, so both read a path the same way.

find_list's path may filter a destination's lists by the cohort's name
(``$.items[?(@.name == '[Amplitude] $amp_cohort_name')].key``): :func:`find_values` finds
every match (none means "not found"), and :func:`document_for` builds what a destination
listing its lists answers, so ``portalspec serve`` can answer any such path.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any, Sequence

from jsonpath_ng import Child, Fields, Index, Root, This
from jsonpath_ng.ext import parse as _parse
from jsonpath_ng.ext.filter import Expression, Filter

_UNSET = object()


class JSONPathError(ValueError):
    """The path is malformed (``about_document`` False) or does not find exactly one id."""

    def __init__(self, message: str, about_document: bool):
        super().__init__(message)
        self.about_document = about_document


@lru_cache(maxsize=256)
def compile_path(path: str) -> Any:
    try:
        with warnings.catch_warnings():  # deprecated syntax is validate's to report (PS319), once
            warnings.simplefilter("ignore", DeprecationWarning)
            return _parse(path)
    except Exception as exc:  # jsonpath-ng's PLY parser raises plain Exception subclasses
        raise JSONPathError(f"'{path}' is not a valid JSONPath: {exc}", about_document=False) from None


def deprecated_syntax(path: str) -> list[str]:
    """What jsonpath-ng says is deprecated in ``path`` (a single ``&`` joining filter
    conditions, which its 2.0 removes), so that validate can say it before an upgrade breaks
    a sync; [] for a path without (or one that does not parse: the checks say that)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        try:
            _parse(path)
        except Exception:  # noqa: BLE001 - a malformed path is reported by the checks, not here
            return []
    return list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)))


def find_values(path: str, document: Any) -> list[Any]:
    """Every value ``path`` finds in ``document``, in document order."""
    expr = compile_path(path)
    try:
        return [m.value for m in expr.find(document)]
    except Exception as exc:  # a filter comparing incomparable values, say
        raise JSONPathError(f"'{path}' cannot be evaluated on the response: {exc}", about_document=True) from None


def find_list_id(path: str, document: Any = _UNSET) -> str | int | float:
    """The single string or number at ``path`` in ``document`` (only checks the path if none)."""
    compile_path(path)
    if document is _UNSET or document is None:
        return ""
    found = find_values(path, document)
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


def regex_operands(path: str) -> list[str]:
    """The text of every regular expression the path's filters match with (``=~``)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Expression) and node.op == "=~":
            found.append(str(node.value))
        for child in (getattr(node, "left", None), getattr(node, "right", None), getattr(node, "target", None),
                      *getattr(node, "expressions", ())):
            if child is not None:
                walk(child)

    walk(compile_path(path))
    return found


# --- answering a path (portalspec serve) -------------------------------------------------

Step = tuple[str, Any]  # ("field", name) | ("index", n) | ("filter", ((field names, value), ...))


def _fields(node: Any, path: str) -> tuple[str, ...]:
    """The field names of ``@.a.b`` (a filter's target)."""
    if isinstance(node, Child):
        return _fields(node.left, path) + _fields(node.right, path)
    if isinstance(node, This):
        return ()
    if isinstance(node, Fields) and len(node.fields) == 1:
        return (node.fields[0],)
    raise JSONPathError(f"'{path}': a filter on {node} cannot be answered", about_document=False)


def _steps(node: Any, path: str) -> list[Step]:
    if isinstance(node, Child):
        return _steps(node.left, path) + _steps(node.right, path)
    if isinstance(node, (Root, This)):
        return []
    if isinstance(node, Fields) and len(node.fields) == 1 and node.fields[0] != "*":
        return [("field", node.fields[0])]
    indices = getattr(node, "indices", None) or (getattr(node, "index", None),)
    if isinstance(node, Index) and len(indices) == 1 and isinstance(indices[0], int) and 0 <= indices[0] < 100:
        return [("index", indices[0])]
    if isinstance(node, Filter):
        conditions = []
        for expression in node.expressions:
            if not isinstance(expression, Expression) or expression.op not in (None, "==", "="):
                raise JSONPathError(f"'{path}': only equality filters ([?(@.name == '…')]) can be answered",
                                    about_document=False)
            conditions.append((_fields(expression.target, path), True if expression.op is None else expression.value))
        return [("filter", tuple(conditions))]
    raise JSONPathError(f"'{path}': {node} cannot be answered (fields, indexes and equality filters can)",
                        about_document=False)


def _merge(element: Any, fields: tuple[str, ...], value: Any, path: str) -> Any:
    """``element`` with ``value`` at ``fields`` (what a filter condition requires of it)."""
    if not fields:
        if element is not None and element != value:
            raise JSONPathError(f"'{path}': a filter condition and the list id need the same place",
                                about_document=False)
        return value
    if element is None:
        element = {}
    if not isinstance(element, dict):
        raise JSONPathError(f"'{path}': a filter condition on a value that is not an object", about_document=False)
    return {**element, fields[0]: _merge(element.get(fields[0]), fields[1:], value, path)}


def _build(shape: list[Step], entries: list[tuple[list[Step], Any]], path: str) -> Any:
    if not shape:
        return entries[0][1] if entries else None  # no filter tells them apart: the first
    kind, arg = shape[0]
    rest = [(steps[1:], value) for steps, value in entries]
    if kind == "field":
        return {arg: _build(shape[1:], rest, path)}
    if kind == "index":
        return [{} for _ in range(arg)] + [_build(shape[1:], rest, path)]
    elements = []
    for steps, value in entries:  # a filter: one element per entry, each satisfying its own conditions
        element = _build(shape[1:], [(steps[1:], value)], path)
        for fields, wanted in steps[0][1]:
            element = _merge(element, fields, wanted, path)
        elements.append(element)
    return elements


def selects(path: str) -> bool:
    """The path picks among several with a filter (it finds nothing when none fits)."""
    return any(kind == "filter" for kind, _ in _steps(compile_path(path), path))


def document_for(shape: str, entries: Sequence[tuple[str, Any]]) -> Any:
    """A JSON document in which each entry's path (``shape`` with its own values in the
    filters) finds exactly its value: what a destination answers when it lists what it holds.
    ``shape`` gives the structure when there is no entry (a filter then finds an empty list).
    Raises :class:`JSONPathError` for a path that cannot be answered so."""
    template = _steps(compile_path(shape), shape)
    steps = [(_steps(compile_path(path), path), value) for path, value in entries]
    if any([kind for kind, _ in s] != [kind for kind, _ in template] for s, _ in steps):
        raise JSONPathError(f"'{shape}': the entries' paths differ in structure", about_document=False)
    return _build(template, steps, shape)

"""Reading the schemas of a description: where a JSON path leads, a sample value, a skeleton.

Every function takes ``jsonschema_path.SchemaPath`` nodes (``$ref``\\ s followed as they are
opened) and never raises on an odd schema: a boolean schema, a missing key or a cycle simply
yields nothing. Composition (``allOf``, ``anyOf``, ``oneOf``) is read as "any branch may say
it": good enough to choose a sample or to ask "is this declared", and never used to decide
validity — openapi-core does that.

- :func:`at`: the subschemas a JSON path (``("contacts", 0, "email")``) leads to;
- :func:`sample`: a value the schema offers (``example``, ``examples``, ``default``, ``enum``,
  a value for its ``format``, ``minimum``), or None;
- :func:`skeleton`: an instance with every declared member, for asking where a path leads;
- :func:`accepts_any_string`: the schema constrains nothing about a string's content.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator, Sequence

from jsonschema_path import SchemaPath

from ..diagnostics import PathElement

MAX_DEPTH = 12  # composition and nesting followed; description schemas recurse (a tree node's children)
_BRANCHES = ("allOf", "anyOf", "oneOf")

# Two values per format: generated users must differ (uniqueItems), so each has a second.
FORMAT_SAMPLES: dict[str, tuple[str, str]] = {
    "email": ("ada@example.com", "grace@example.org"),
    "idn-email": ("ada@example.com", "grace@example.org"),
    "uuid": ("0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"),
    "date-time": ("2024-06-01T12:00:00Z", "2024-06-02T12:00:00Z"),
    "date": ("2024-06-01", "2024-06-02"),
    "time": ("12:00:00Z", "13:00:00Z"),
    "uri": ("https://example.com/a", "https://example.com/b"),
    "url": ("https://example.com/a", "https://example.com/b"),
    "hostname": ("a.example.com", "b.example.com"),
    "ipv4": ("192.0.2.1", "192.0.2.2"),
    "ipv6": ("2001:db8::1", "2001:db8::2"),
}
_CONSTRAINING = ("enum", "const", "pattern", "format", "maxLength")


def is_mapping(node: SchemaPath) -> bool:
    try:
        return isinstance(node.read_value(), dict)
    except Exception:  # an unresolvable node reads as nothing
        return False


def get(node: SchemaPath, key: str, default: Any = None) -> Any:
    """The plain value of ``node[key]`` (``$ref`` at that key followed), or ``default``."""
    if not is_mapping(node) or key not in node:
        return default
    try:
        return (node / key).read_value()
    except Exception:
        return default


def branches(node: SchemaPath, depth: int = 0) -> Iterator[SchemaPath]:
    """``node`` and, recursively, the members of its ``allOf``/``anyOf``/``oneOf``."""
    if not is_mapping(node) or depth > MAX_DEPTH:
        return
    yield node
    for key in _BRANCHES:
        members = get(node, key)
        if isinstance(members, list):
            for i in range(len(members)):
                yield from branches(node / key / i, depth + 1)


def types(node: SchemaPath) -> set[str]:
    """Every ``type`` a branch of ``node`` names (``type: [string, "null"]`` gives both)."""
    found: set[str] = set()
    for branch in branches(node):
        declared = get(branch, "type")
        found.update([declared] if isinstance(declared, str) else
                     [t for t in declared if isinstance(t, str)] if isinstance(declared, list) else [])
    return found


def at(schema: SchemaPath, path: Sequence[PathElement]) -> list[SchemaPath]:
    """The subschemas that describe the value at ``path`` of an instance of ``schema``."""
    nodes = [schema]
    for part in path:
        found: list[SchemaPath] = []
        for node in nodes:
            for branch in branches(node):
                found.extend(_child(branch, part))
        nodes = _unique(found)
        if not nodes:
            break
    return nodes


def _child(branch: SchemaPath, part: PathElement) -> Iterator[SchemaPath]:
    if isinstance(part, str):
        properties = get(branch, "properties")
        if isinstance(properties, dict) and part in properties:
            yield branch / "properties" / part
            return
        patterns = get(branch, "patternProperties")
        for pattern in patterns if isinstance(patterns, dict) else ():
            try:
                if re.search(pattern, part):
                    yield branch / "patternProperties" / pattern
                    return
            except re.error:
                continue
        if isinstance(get(branch, "additionalProperties"), dict):
            yield branch / "additionalProperties"
        return
    prefix = get(branch, "prefixItems")
    if isinstance(prefix, list) and part < len(prefix):
        yield branch / "prefixItems" / part
    elif isinstance(get(branch, "items"), dict):
        yield branch / "items"


def _unique(nodes: list[SchemaPath]) -> list[SchemaPath]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for node in nodes:
        if node.parts not in seen:
            seen.add(node.parts)
            out.append(node)
    return out


def sample(node: SchemaPath, index: int = 0) -> Any:
    """A value the schema itself offers, or None: its ``const``, ``example``, first
    ``examples``, ``default``, ``enum`` value, a value for its ``format``, its ``minimum``.
    ``index`` 1 asks for a second, different value where one is at hand (a second enum value,
    a format's second sample), for a second generated user."""
    for branch in branches(node):
        if is_mapping(branch) and "const" in branch:
            return get(branch, "const")
        enum = get(branch, "enum")
        if isinstance(enum, list) and enum:
            choices = [v for v in enum if v is not None] or enum
            return choices[min(index, len(choices) - 1)]
    for key in ("example", "default"):
        for branch in branches(node):
            if is_mapping(branch) and key in branch:
                value = get(branch, key)
                if value is not None and index == 0:
                    return value
    for branch in branches(node):
        examples = get(branch, "examples")
        if isinstance(examples, list) and examples:
            return examples[min(index, len(examples) - 1)]
    for branch in branches(node):
        fmt = get(branch, "format")
        if isinstance(fmt, str) and fmt in FORMAT_SAMPLES:
            return FORMAT_SAMPLES[fmt][min(index, 1)]
        minimum = get(branch, "minimum")
        if isinstance(minimum, (int, float)) and not isinstance(minimum, bool):
            return minimum + index
    return None


def accepts_any_string(node: SchemaPath) -> bool:
    """True when the schema takes any string at all: typed ``string`` (or untyped), with no
    ``enum``, ``const``, ``pattern``, ``format`` or ``maxLength`` in it or its ``allOf``, and
    no ``anyOf``/``oneOf`` to choose between. Where this holds, hostile text (quotes,
    non-ASCII, long strings, numbers as text) is a fair test of the definition alone."""
    if not is_mapping(node):
        try:
            return node.read_value() is True  # the schema `true` takes anything
        except Exception:
            return False
    declared = types(node)
    if declared and "string" not in declared:
        return False
    for branch in branches(node):
        if any(get(branch, key) is not None for key in _CONSTRAINING + ("anyOf", "oneOf")):
            return False
    return True


Leaf = Callable[[SchemaPath, set[str]], Any]


def type_leaf(node: SchemaPath, declared: set[str]) -> Any:
    """A leaf standing for its type: ``"string"`` text, ``1``, ``1.5``, ``True``, ``None``;
    an untyped leaf is text (a schema without a type accepts a string)."""
    for name, value in (("integer", 1), ("string", "string"), ("number", 1.5), ("boolean", True), ("null", None)):
        if name in declared:
            return value
    return "string"


def skeleton(node: SchemaPath, leaf: Leaf = type_leaf, depth: int = 0) -> Any:
    """An instance holding every member the schema declares (any branch's), one item per
    array, and ``leaf(node, types)`` at each scalar: for reading a path through with
    :func:`portalspec.jsonpath.find_list_id`, as a response would be read."""
    if depth > MAX_DEPTH:
        return None
    properties: dict[str, SchemaPath] = {}
    items: SchemaPath | None = None
    for branch in branches(node):
        declared = get(branch, "properties")
        for name in declared if isinstance(declared, dict) else ():
            properties.setdefault(name, branch / "properties" / name)
        if items is None and isinstance(get(branch, "items"), dict):
            items = branch / "items"
    declared_types = types(node)
    if properties:
        return {name: skeleton(child, leaf, depth + 1) for name, child in properties.items()}
    if items is not None:
        return [skeleton(items, leaf, depth + 1)]
    if "array" in declared_types:
        return []
    if "object" in declared_types:
        return {}
    return leaf(node, declared_types)


def leaves(value: Any, prefix: str = "") -> Iterator[str]:
    """The dotted paths of a skeleton's scalars (``list.id``), for naming what is declared."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, f"{prefix}[0]")
    else:
        yield prefix or "$"


def pointer(node: SchemaPath | None, extra: Sequence[PathElement] = ()) -> str:
    """``node`` (and ``extra`` below it) as a JSON pointer from the description's root:
    ``#/paths/~1lists/post/requestBody/…``; the path as read, ``$ref``\\ s taken."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in (*(node.parts if node else ()), *extra)]
    return "#/" + "/".join(parts)

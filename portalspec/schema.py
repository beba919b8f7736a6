"""Stage 2a, the JSON Schema: the published structure of a definition, and its diagnostics.

The schema file shipped in the package (``portalspec/data/integration.schema.json``) is the
one source of truth; ``schemas/integration.schema.json`` in the repository is the same bytes
for editors (a test keeps them equal). jsonschema collects every error; we turn each into a
diagnostic with a message written for a partner engineer, not a validator's internals.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .diagnostics import Diagnostic, did_you_mean

SCHEMA_RESOURCE = "data/integration.schema.json"
FORMAT_VERSION = 1
HEADER_TOKEN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # RFC 9110 token, as the schema spells it

_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "a mapping", "array": "a list", "null": "null"}


def schema_text() -> str:
    return resources.files("portalspec").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


def default(owner: str | None, key: str) -> Any:
    """The ``default`` the schema declares for property ``key`` of ``owner`` — a name under
    ``$defs`` (``"batch_endpoint"``), or ``None`` for the top level — following a ``$ref``
    when the property itself declares none. The schema is where defaults are written down;
    the model and the checks read them here. ``KeyError`` if the schema declares none.
    """
    document = schema()
    node = document if owner is None else document["$defs"][owner]
    prop = node["properties"][key]
    while "default" not in prop and "$ref" in prop:
        ref = prop["$ref"]
        prop = document  # a local JSON pointer: #/$defs/url, #/properties/auth/properties/method
        for part in ref.removeprefix("#/").split("/"):
            prop = prop[part]
    if "default" not in prop:
        raise KeyError(f"the schema declares no default for {owner or 'the top level'}.{key}")
    return copy.deepcopy(prop["default"])  # (the schema is cached; a caller may not change it)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return "a list" if isinstance(value, list) else "a mapping"


def schema_diagnostics(data: Any) -> Iterator[Diagnostic]:
    """Every schema violation in ``data`` as a diagnostic (positions are filled in later)."""
    for error in _validator().iter_errors(data):
        yield from _diagnose(error)


def _diagnose(error: ValidationError) -> Iterator[Diagnostic]:
    path = tuple(error.absolute_path)
    # (jsonschema types these as "or unset"; an error from iter_errors has every one set)
    validator: Any = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    where: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if validator == "additionalProperties" and isinstance(instance, dict):
        known = list(where.get("properties", {}))
        for key in instance:
            if key not in known:
                hint = did_you_mean(key, known) or ("allowed here: " + ", ".join(known) if known else None)
                yield Diagnostic("PS102", f"unknown key '{key}'", path=path + (key,), hint=hint)
        return
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(value)
        yield Diagnostic("PS101", f"missing required key '{missing}'", path=path)
        return
    if path == ("portalspec",):
        yield Diagnostic("PS100", f"unsupported format version {instance!r}: this portalspec reads "
                                  f"'portalspec: {FORMAT_VERSION}'", path=path)
        return
    if validator == "type":
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in ([value] if isinstance(value, str) else value))
        hint = None
        if value == "string" and (isinstance(instance, (bool, int, float)) or instance is None):
            hint = "YAML reads yes/no/on/off/null and numbers as non-strings; quote the value to make it a string"
        yield Diagnostic("PS103", f"expected {expected}, got {_kind(instance)}", path=path, hint=hint)
    elif validator in ("enum", "const"):
        allowed = [value] if validator == "const" else list(value)
        yield Diagnostic("PS104", f"{_kind(instance)} is not allowed here; expected "
                                  + ", ".join(json.dumps(a) for a in allowed), path=path,
                         hint=did_you_mean(str(instance), [str(a) for a in allowed]))
    elif validator == "pattern":
        if value == HEADER_TOKEN:
            key = "propertyNames" in error.schema_path  # the name is a key of a headers map
            yield Diagnostic("PS305", f"'{instance}' is not a valid HTTP header name",
                             path=path + (instance,) if key else path)
        else:
            described = where.get("description", "").split(":")[0]
            yield Diagnostic("PS105", f"{_kind(instance)} does not match the required pattern {value}"
                                      + (f" ({described.lower()})" if described else ""), path=path)
    elif validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        limits = where
        bounds = f"{limits.get('minimum', '…')}..{limits.get('maximum', '…')}"
        yield Diagnostic("PS106", f"{instance} is out of range ({bounds})", path=path)
    elif validator in ("minLength", "minItems", "minProperties"):
        yield Diagnostic("PS107", "must not be empty", path=path)
    else:
        yield Diagnostic("PS199", error.message, path=path)

"""Comparing two versions of a definition by what each change does to customers who already
set up the destination.

Every change is one :class:`Change`, classified as

- **breaking**: destinations set up before the change stop working or lose data (a variable
  removed or renamed, a required field added, the auth method, the list id's path or source,
  where existing lists are addressed, the type, a select option removed);
- **risky**: the requests change and the destination's API must accept the new ones (a
  payload's shape, a header, a larger batch size, any change no rule below knows);
- **safe**: only what people read, or optional additions (display text, descriptions, error
  messages, an option or a field with a default added).

Each change is positioned in both files (the nearest enclosing value where a side lacks it).
Fields are matched by their variable, options by their value, headers by name (case-blind),
so reordering is not a change. The comparison reads the loaded data of both documents and
never raises on odd data: a value of an unexpected type counts as absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable
from urllib.parse import urlsplit

from .diagnostics import Path, format_path
from .kinds import KINDS
from .loader import Document
from .model import DEFAULT_BATCH_SIZE
from .rawdata import as_dict as _dict
from .rawdata import as_list as _list
from .schema import default

_LIST_ID_FROM: str = default("list_id", "from")


class Impact(str, Enum):
    BREAKING = "breaking"
    RISKY = "risky"
    SAFE = "safe"


@dataclass(frozen=True)
class Position:
    """Where a change stands in one of the two files."""

    file: str | None
    path: Path
    line: int | None
    column: int | None

    def location(self) -> str:
        parts = [self.file or "<string>"] + [str(n) for n in (self.line, self.column) if n is not None]
        return ":".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "column": self.column, "path": format_path(self.path)}


@dataclass(frozen=True)
class Change:
    impact: Impact
    rule: str  # a stable name, listed in docs/ci.md
    message: str
    old: Position
    new: Position

    def to_dict(self) -> dict[str, object]:
        return {"impact": self.impact.value, "rule": self.rule, "message": self.message,
                "old": self.old.to_dict(), "new": self.new.to_dict()}


@dataclass(frozen=True)
class DiffReport:
    old_file: str | None
    new_file: str | None
    changes: tuple[Change, ...]

    def count(self, impact: Impact) -> int:
        return sum(c.impact is impact for c in self.changes)

    @property
    def breaking(self) -> bool:
        return self.count(Impact.BREAKING) > 0

    def to_dict(self) -> dict[str, object]:
        return {"old": self.old_file, "new": self.new_file, "breaking": self.count(Impact.BREAKING),
                "risky": self.count(Impact.RISKY), "safe": self.count(Impact.SAFE),
                "changes": [c.to_dict() for c in self.changes]}


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return repr(text if len(text) <= 60 else text[:59] + "…")


def squeeze_json(text: str) -> str:
    """A JSON template without the white space outside its strings: two payloads equal after
    this differ only in formatting, which no API sees."""
    out: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif not ch.isspace():
            out.append(ch)
    return "".join(out)


_IMPACT_ORDER = {Impact.BREAKING: 0, Impact.RISKY: 1, Impact.SAFE: 2}

# Keys whose change only alters what people read.
_DISPLAY_KEYS = ("display_name", "category", "summary", "description", "logo")
_FIELD_DISPLAY_KEYS = ("display_name", "mapping_display_name", "description")


class _Differ:
    def __init__(self, old: Document, new: Document):
        self.old, self.new = old, new
        self.changes: list[Change] = []

    def _position(self, document: Document, path: Path) -> Position:
        at = document.source.position(path)
        line, column = at if at is not None else (None, None)
        return Position(document.source.file, path, line, column)

    def add(self, impact: Impact, rule: str, message: str, old_path: Path, new_path: Path | None = None) -> None:
        new_path = old_path if new_path is None else new_path
        self.changes.append(Change(impact, rule, message, self._position(self.old, old_path),
                                   self._position(self.new, new_path)))

    # --- the whole definition -----------------------------------------------------------

    def run(self) -> list[Change]:
        old, new = _dict(self.old.data), _dict(self.new.data)
        handled = {"portalspec", "name", "type", "auth", "headers", "custom_fields", "mapping_fields", "endpoints",
                   *_DISPLAY_KEYS}
        if old.get("type") != new.get("type"):
            self.add(Impact.BREAKING, "type-changed",
                     f"type changed from {_show(old.get('type'))} to {_show(new.get('type'))}: existing destinations "
                     "hold lists (or traits) the new type does not use", ("type",))
        if old.get("name") != new.get("name"):
            self.add(Impact.RISKY, "name-changed",
                     f"name changed from {_show(old.get('name'))} to {_show(new.get('name'))}: sync state and "
                     "anything keyed by the name no longer match", ("name",))
        for key in _DISPLAY_KEYS:
            if old.get(key) != new.get(key):
                self.add(Impact.SAFE, "display-text-changed", f"{key} changed", (key,))
        self.auth(_dict(old.get("auth")), _dict(new.get("auth")))
        self.headers(old.get("headers"), new.get("headers"), ("headers",), "every call")
        self.fields("custom_fields", old, new)
        self.fields("mapping_fields", old, new)
        self.endpoints(_dict(old.get("endpoints")), _dict(new.get("endpoints")))
        self.others(old, new, (), handled)
        return sorted(self.changes, key=lambda c: (_IMPACT_ORDER[c.impact], c.new.line or 0, c.new.column or 0))

    def others(self, old: dict, new: dict, path: Path, handled: Iterable[str]) -> None:
        """Keys no rule knows (a later version's, say): a change there is risky until a rule says otherwise."""
        for key in sorted(set(old) | set(new), key=str):
            if key not in handled and old.get(key) != new.get(key):
                what = "added" if key not in old else "removed" if key not in new else "changed"
                self.add(Impact.RISKY, "other-change", f"{format_path(path + (key,))} {what}", path + (key,))

    def auth(self, old: dict, new: dict) -> None:
        if old.get("method") != new.get("method"):
            self.add(Impact.BREAKING, "auth-method-changed",
                     f"auth method changed from {_show(old.get('method'))} to {_show(new.get('method'))}: existing "
                     "destinations hold credentials for the old method", ("auth", "method"))
        elif old.get("header_name") != new.get("header_name"):
            self.add(Impact.RISKY, "header-changed",
                     f"the auth header changed from {_show(old.get('header_name'))} to {_show(new.get('header_name'))}",
                     ("auth", "header_name"))
        elif old.get("grant") != new.get("grant"):  # oauth2: another grant wants other credentials
            self.add(Impact.BREAKING, "auth-grant-changed",
                     f"the OAuth2 grant changed from {_show(old.get('grant'))} to {_show(new.get('grant'))}: existing "
                     "destinations hold the credentials of the old grant", ("auth", "grant"))
        self.others(old, new, ("auth",), ("method", "header_name", "grant"))

    def headers(self, old_map: Any, new_map: Any, path: Path, where: str) -> None:
        old = {str(k).lower(): (k, v) for k, v in _dict(old_map).items()}
        new = {str(k).lower(): (k, v) for k, v in _dict(new_map).items()}
        for name in sorted(set(old) | set(new)):
            if name not in new:
                self.add(Impact.RISKY, "header-changed", f"header {old[name][0]} ({where}) removed",
                         path + (old[name][0],), path)
            elif name not in old:
                self.add(Impact.RISKY, "header-changed",
                         f"header {new[name][0]} ({where}) added: {_show(new[name][1])}", path, path + (new[name][0],))
            elif old[name][1] != new[name][1]:
                self.add(Impact.RISKY, "header-changed",
                         f"header {new[name][0]} ({where}) changed from {_show(old[name][1])} to {_show(new[name][1])}",
                         path + (old[name][0],), path + (new[name][0],))

    # --- fields -------------------------------------------------------------------------

    def fields(self, key: str, old_data: dict, new_data: dict) -> None:
        mapping = key == "mapping_fields"

        def by_variable(items: list) -> dict[str, tuple[int, dict]]:
            found: dict[str, tuple[int, dict]] = {}
            for i, spec in enumerate(items):
                if isinstance(spec, dict) and isinstance(spec.get("variable"), str):
                    found.setdefault(spec["variable"], (i, spec))
            return found

        old, new = by_variable(_list(old_data.get(key))), by_variable(_list(new_data.get(key)))
        removed = [v for v in old if v not in new]
        added = [v for v in new if v not in old]
        for variable in removed:  # a removed field paired with an added one is a rename
            i, spec = old[variable]
            partner = next((a for a in added if new[a][1].get("display_name") == spec.get("display_name")), None)
            if partner is None:
                partner = next((a for a in added if new[a][0] == i), None)
            if partner is not None:
                added.remove(partner)
                self.add(Impact.BREAKING, "variable-renamed",
                         f"${variable} renamed to ${partner}: destinations set up before have no value for "
                         f"${partner}, even where the new name is used everywhere", (key, i, "variable"),
                         (key, new[partner][0], "variable"))
                self.field(key, spec, new[partner][1], (key, i), (key, new[partner][0]), mapping)
            else:
                self.add(Impact.BREAKING, "variable-removed",
                         f"${variable} removed: destinations set up before lose the value they hold for it",
                         (key, i, "variable"), (key,))
        for variable in added:
            j, spec = new[variable]
            if (mapping and spec.get("required", True) is not False) or (not mapping and "default" not in spec):
                what = "mapping field" if mapping else "required custom field"
                self.add(Impact.BREAKING, "required-field-added",
                         f"{what} ${variable} added without a default: destinations set up before have no value "
                         "for it", (key,), (key, j, "variable"))
            else:
                what = "optional mapping field" if mapping else \
                    f"custom field with the default {_show(spec.get('default'))}"
                self.add(Impact.SAFE, "optional-field-added", f"{what} ${variable} added", (key,), (key, j, "variable"))
        for variable in old:
            if variable in new:
                self.field(key, old[variable][1], new[variable][1], (key, old[variable][0]), (key, new[variable][0]),
                           mapping)

    def field(self, key: str, old: dict, new: dict, old_path: Path, new_path: Path, mapping: bool) -> None:
        name = f"${new.get('variable')}"
        handled = {"variable", "type", "options", "default", "secret", *_FIELD_DISPLAY_KEYS}
        if mapping:
            handled |= {"transform", "required"}
            was, now = old.get("required", True) is not False, new.get("required", True) is not False
            if was != now:
                self.add(Impact.BREAKING if now else Impact.SAFE, "required-field-added" if now else "field-made-optional",
                         f"{name} is {'now required' if now else 'optional now'}"
                         + (": destinations set up without it have no value for it" if now else ""),
                         old_path + ("required",), new_path + ("required",))
            if old.get("transform") != new.get("transform"):
                what = "added" if "transform" not in old else "removed" if "transform" not in new else "changed"
                self.add(Impact.BREAKING, "transform-changed",
                         f"the transform of {name} {what}: the ids sent change, so users synced before are not "
                         "recognised", old_path + ("transform",), new_path + ("transform",))
        old_type = old.get("type", "string" if mapping else None)
        new_type = new.get("type", "string" if mapping else None)
        if old_type != new_type:
            self.add(Impact.RISKY, "field-type-changed",
                     f"{name}'s type changed from {_show(old_type)} to {_show(new_type)}: values entered before may "
                     "not fit the new widget", old_path + ("type",), new_path + ("type",))
        self.options(name, old.get("options"), new.get("options"), old_path + ("options",), new_path + ("options",))
        if old.get("default") != new.get("default"):
            self.add(Impact.SAFE, "default-changed",
                     f"{name}'s default changed from {_show(old.get('default'))} to {_show(new.get('default'))} "
                     "(destinations set up before keep their value)", old_path + ("default",), new_path + ("default",))
        if bool(old.get("secret")) != bool(new.get("secret")):
            if old.get("secret"):
                self.add(Impact.RISKY, "secret-unset", f"{name} is no longer secret: its value shows in previews "
                         "and logs", old_path + ("secret",), new_path + ("secret",))
            else:
                self.add(Impact.SAFE, "display-text-changed", f"{name} is now secret (masked in previews)",
                         old_path + ("secret",), new_path + ("secret",))
        for k in _FIELD_DISPLAY_KEYS:
            if old.get(k) != new.get(k):
                self.add(Impact.SAFE, "display-text-changed", f"{name}'s {k} changed", old_path + (k,), new_path + (k,))
        for k in sorted(set(old) | set(new), key=str):
            if k not in handled and old.get(k) != new.get(k):
                self.add(Impact.RISKY, "other-change", f"{name}'s {k} changed", old_path + (k,), new_path + (k,))

    def options(self, name: str, old_list: Any, new_list: Any, old_path: Path, new_path: Path) -> None:
        def by_value(items: Any) -> dict[str, tuple[int, dict]]:
            return {str(o.get("value")): (i, o) for i, o in enumerate(_list(items))
                    if isinstance(o, dict) and "value" in o}

        old, new = by_value(old_list), by_value(new_list)
        for value, (i, _) in old.items():
            if value not in new:
                self.add(Impact.BREAKING, "option-removed",
                         f"option {value!r} of {name} removed: destinations set up with it send a value the "
                         "definition no longer offers", old_path + (i, "value"), new_path)
            elif old[value][1].get("label") != new[value][1].get("label"):
                self.add(Impact.SAFE, "display-text-changed", f"the label of {name}'s option {value!r} changed",
                         old_path + (i, "label"), new_path + (new[value][0], "label"))
        for value, (j, _) in new.items():
            if value not in old:
                self.add(Impact.SAFE, "option-added", f"option {value!r} of {name} added", old_path,
                         new_path + (j, "value"))

    # --- endpoints ----------------------------------------------------------------------

    def endpoints(self, old: dict, new: dict) -> None:
        for name in list(dict.fromkeys([*old, *new])):
            path: Path = ("endpoints", name)
            optional = name in KINDS and KINDS[name].optional  # find_list: a lookup, not the type's shape
            if name not in new and optional:
                self.add(Impact.RISKY, "lookup-removed", f"endpoint {name} removed: a sync whose state is lost "
                         "creates a second list instead of finding the first", path, ("endpoints",))
            elif name not in old and optional:
                self.add(Impact.SAFE, "lookup-added", f"endpoint {name} added: lists that exist are found",
                         ("endpoints",), path)
            elif name not in new:
                self.add(Impact.BREAKING, "endpoint-removed", f"endpoint {name} removed", path, ("endpoints",))
            elif name not in old:
                self.add(Impact.BREAKING, "endpoint-added", f"endpoint {name} added", ("endpoints",), path)
            else:
                self.endpoint(str(name), _dict(old[name]), _dict(new[name]), path)

    def endpoint(self, name: str, old: dict, new: dict, path: Path) -> None:
        kind = KINDS.get(name)
        scoped = kind is not None and kind.list_scoped
        handled = {"method", "url", "payload", "item_template", "headers", "batch_size", "list_id",
                   "example_response", "errors"}
        if old.get("method") != new.get("method"):
            if scoped:
                self.add(Impact.BREAKING, "list-endpoint-moved",
                         f"{name}'s method changed from {_show(old.get('method'))} to {_show(new.get('method'))}: "
                         "existing lists are addressed differently", path + ("method",))
            else:
                self.add(Impact.RISKY, "endpoint-changed",
                         f"{name}'s method changed from {_show(old.get('method'))} to {_show(new.get('method'))}",
                         path + ("method",))
        if old.get("url") != new.get("url"):
            self.url(name, str(old.get("url", "")), str(new.get("url", "")), scoped, path + ("url",))
        for key in ("payload", "item_template"):
            before, after = old.get(key), new.get(key)
            if before == after:
                continue
            what = "payload" if key == "payload" else "item template"
            if isinstance(before, str) and isinstance(after, str) and squeeze_json(before) == squeeze_json(after):
                self.add(Impact.SAFE, "payload-reformatted", f"{name}'s {what} reformatted (same JSON)", path + (key,))
            else:
                self.add(Impact.RISKY, "payload-changed",
                         f"{name}'s {what} changed from {_show(before)} to {_show(after)}: the destination must "
                         "accept the new shape", path + (key,))
        self.headers(old.get("headers"), new.get("headers"), path + ("headers",), name)
        old_size, new_size = old.get("batch_size", DEFAULT_BATCH_SIZE), new.get("batch_size", DEFAULT_BATCH_SIZE)
        if old_size != new_size and isinstance(old_size, int) and isinstance(new_size, int):
            if new_size > old_size:
                self.add(Impact.RISKY, "batch-size-raised",
                         f"{name}'s batch_size raised from {old_size} to {new_size}: the destination must accept "
                         "larger requests", path + ("batch_size",))
            else:
                self.add(Impact.SAFE, "batch-size-lowered", f"{name}'s batch_size lowered from {old_size} to "
                         f"{new_size}", path + ("batch_size",))
        elif old_size != new_size:
            self.add(Impact.RISKY, "other-change", f"{name}'s batch_size changed", path + ("batch_size",))
        old_id, new_id = _dict(old.get("list_id")), _dict(new.get("list_id"))
        for key, fallback in (("from", _LIST_ID_FROM), ("path", None)):
            before, after = old_id.get(key, fallback), new_id.get(key, fallback)
            if before != after:
                self.add(Impact.BREAKING, "list-id-changed",
                         f"the list id's {'source' if key == 'from' else 'path'} changed from {_show(before)} to "
                         f"{_show(after)}: lists are found where the old definition did not look",
                         path + ("list_id", key))
        self.others(old_id, new_id, path + ("list_id",), ("from", "path"))
        if old.get("example_response") != new.get("example_response"):
            self.add(Impact.SAFE, "example-changed", f"{name}'s example_response changed",
                     path + ("example_response",))
        if old.get("errors") != new.get("errors"):
            self.add(Impact.SAFE, "errors-changed", f"{name}'s error classifications changed", path + ("errors",))
        self.others(old, new, path, handled)

    def url(self, name: str, old: str, new: str, scoped: bool, path: Path) -> None:
        message = f"{name}'s URL changed from {_show(old)} to {_show(new)}"
        old_parts, new_parts = urlsplit(old), urlsplit(new)
        same_place = (old_parts.scheme, old_parts.netloc, old_parts.path) == \
                     (new_parts.scheme, new_parts.netloc, new_parts.path)
        if scoped and not same_place:
            self.add(Impact.BREAKING, "list-endpoint-moved",
                     message + ": lists created before are addressed where they do not exist", path)
        else:
            self.add(Impact.RISKY, "endpoint-changed", message, path)


def diff_documents(old: Document, new: Document) -> DiffReport:
    """Every change from ``old`` to ``new``, breaking first, then in the new file's order."""
    return DiffReport(old.source.file, new.source.file, tuple(_Differ(old, new).run()))

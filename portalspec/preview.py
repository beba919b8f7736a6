"""The preview: what end users and reviewers will see of a definition, as a static HTML site.

:func:`build_preview` turns a loaded document (plus, optionally, values and users) into a
:class:`Preview` value: the tile, the setup modal's controls, the variable table, the rendered
lifecycle (requests masked, each with its curl command), the portal sheet and the source with
every diagnostic beside its line. :func:`write_preview` renders it through the Jinja2
templates in ``portalspec/templates/preview`` into one ``index.html`` whose CSS, script and
logo are inline; its Content-Security-Policy forbids every fetch, so the page works offline
and cannot call out.

An invalid definition still gets a page: the source with its diagnostics, the tile and the
variable table; the modal, requests and sheet need a valid definition. Without a values file
the lifecycle uses example values (defaults, placeholders), and without users, three example
users (two entering, one leaving); the page says so.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Iterable, Sequence

import jinja2

from .checks import PNG_SIGNATURE
from .diagnostics import Diagnostic, InputError
from .formats import to_curl
from .integration import compile as compile_definition
from .kinds import ADD, REMOVE
from .loader import Document
from .macros import MacroContext
from .model import Definition, definition_from_data
from .portal_sheet import FIELD_TYPES, SheetSection, portal_sheet
from .request import Request
from .validate import check_document, variable_table
from .values import Cohort, User, Values
from .variables import VariableRow

MAX_LOGO_BYTES = 1024 * 1024
AMPLITUDE_PROPERTIES = ("user_id", "amplitude_id", "device_id", "email")
EXAMPLE_COHORT = Cohort("1234", "Beta users", "https://app.amplitude.com/analytics/demo/cohort/1234")


@dataclass(frozen=True)
class Control:
    """One control of the setup modal: exactly one per auth variable, custom and mapping field."""

    variable: str
    label: str
    widget: str  # "text", "password", "number", "url", "checkbox", "select", "button_group" or "mapping"
    origin: str  # "auth", "custom" or "mapping"
    options: tuple[tuple[str, str], ...] = ()  # (label, value)
    selected: str | None = None
    required: bool = True
    help: str | None = None
    target: str | None = None  # mapping fields: the destination's name for the value
    field_type: str = ""  # the portal's Field Type


@dataclass(frozen=True)
class ShownRequest:
    endpoint: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str  # pretty-printed when it is JSON, masked
    curl: str
    items: int


@dataclass(frozen=True)
class SourceLine:
    number: int
    text: str
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True)
class Preview:
    file: str
    name: str
    display_name: str
    category: str | None
    summary: str | None
    logo_data_uri: str | None
    diagnostics: tuple[Diagnostic, ...]
    source: tuple[SourceLine, ...]
    variables: tuple[VariableRow, ...]
    controls: tuple[Control, ...] = ()
    requests: tuple[ShownRequest, ...] = ()
    sheet: tuple[SheetSection, ...] = ()
    example_response: str | None = None
    list_id_note: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # how the lifecycle was made, what is missing

    @property
    def errors(self) -> int:
        return sum(d.is_error for d in self.diagnostics)

    @property
    def valid(self) -> bool:
        return self.errors == 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _logo(data: dict, base_dir: FsPath | None) -> str | None:
    logo = data.get("logo")
    if not isinstance(logo, str) or base_dir is None:
        return None
    try:
        raw = (base_dir / logo).read_bytes()
    except (OSError, ValueError):
        return None
    if not raw.startswith(PNG_SIGNATURE) or len(raw) > MAX_LOGO_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


WIDGETS = {"string": "text", "single_select": "select", "button_group": "button_group", "boolean": "checkbox",
           "number": "number", "origin": "url"}


def shown_value(value: Any) -> str:
    """A field value as the page and the sheet show it: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def controls(definition: Definition) -> list[Control]:
    """The setup modal's controls, in its order: credentials, custom fields, mapping fields."""
    out = [Control(v.name, v.display_name + ("" if v.required else " (optional)"), "password", "auth",
                   required=v.required, field_type="String")
           for v in definition.auth.declared]
    for f in definition.custom_fields:
        widget = "password" if f.secret and f.type == "string" else WIDGETS.get(f.type, "text")
        options = tuple((o.label, shown_value(o.value)) for o in f.options) if widget in ("select", "button_group") \
            else ()
        out.append(Control(f.variable, f.display_name, widget, "custom", options,
                           None if f.default is None else shown_value(f.default), True, f.description,
                           field_type=FIELD_TYPES.get(f.type, f.type)))
    for m in definition.mapping_fields:
        options = tuple((o.label, shown_value(o.value)) for o in m.options) or \
            tuple((p, p) for p in AMPLITUDE_PROPERTIES)
        out.append(Control(m.variable, m.mapping_display_name + ("" if m.required else " (optional)"), "mapping",
                           "mapping", options, None, m.required, m.description, target=m.display_name,
                           field_type=FIELD_TYPES.get(m.type, m.type)))
    return out


def example_values(definition: Definition) -> Values:
    """Values a customer might type: each field's default (or first option, or a placeholder)."""
    fields: dict[str, Any] = {v.name: f"example-{v.name.replace('_', '-')}" for v in definition.auth.declared}
    for f in definition.custom_fields:
        fields[f.variable] = f.default if f.default is not None else (
            f.options[0].value if f.options and f.type in ("single_select", "button_group") else
            {"boolean": True, "number": 1, "origin": "https://example.com"}.get(
                f.type, f"example-{f.variable.replace('_', '-')}"))
    mappings = {m.variable: "user_id" for m in definition.mapping_fields}
    return Values(fields, mappings, EXAMPLE_COHORT)


def example_users(definition: Definition) -> list[User]:
    """Two users entering the cohort and one leaving it."""
    out = []
    for operation, key in ((ADD, "user123"), (ADD, "user456"), (REMOVE, "user789")):
        values = {m.variable: (key if i == 0 else f"{key}-{m.variable}") for i, m in enumerate(definition.mapping_fields)}
        out.append(User(operation, values, ref=key, key=key))
    return out


def _pretty(text: str | None) -> str:
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def shown(request: Request, prefix: str) -> ShownRequest:
    return ShownRequest(
        request.endpoint, request.method, request.apply_mask(request.url),
        tuple((name, request.apply_mask(value)) for name, value in request.headers),
        _pretty(None if request.text is None else request.apply_mask(request.text)),
        to_curl(request, prefix), request.items)


def _source(document: Document, diagnostics: Sequence[Diagnostic]) -> tuple[SourceLine, ...]:
    at: dict[int, list[Diagnostic]] = {}
    for d in diagnostics:
        if d.line is not None:
            at.setdefault(min(max(d.line, 1), max(len(document.source.lines), 1)), []).append(d)
    lines = document.source.lines or [""]
    return tuple(SourceLine(n, text, tuple(at.get(n, ()))) for n, text in enumerate(lines, 1))


def build_preview(document: Document, values: Values | None = None, users: Iterable[User] | None = None, *,
                  context: MacroContext | None = None) -> Preview:
    """Everything the preview page shows, as a value. Never raises on a bad definition (its
    diagnostics are part of the page); values that do not fit the definition are noted too."""
    diagnostics = tuple(check_document(document))
    data = document.data if isinstance(document.data, dict) else {}
    file = document.source.file or "<string>"
    preview = Preview(
        file=file, name=str(data.get("name", "")), display_name=_text(data.get("display_name")) or os.path.basename(file),
        category=_text(data.get("category")), summary=_text(data.get("summary")),
        logo_data_uri=_logo(data, document.base_dir), diagnostics=diagnostics, source=_source(document, diagnostics),
        variables=tuple(variable_table(document)))
    if any(d.is_error for d in diagnostics) or document.data is None:
        return preview
    definition = definition_from_data(data, document.source)
    integration = compile_definition(definition)
    notes = []
    if values is None:
        values = example_values(definition)
        notes.append("Requests use example values (each field's default, or a placeholder); pass --values to use yours.")
    if users is None:
        users = example_users(definition)
        notes.append("Requests use three example users (two entering, one leaving); pass --users to use yours.")
    requests: tuple[ShownRequest, ...] = ()
    try:
        rendered = integration.render(values, users, context=context or MacroContext(), mask_secrets=True)
        requests = tuple(shown(r, integration.name) for r in rendered)
    except InputError as exc:
        notes.append(f"No requests: {exc}")
    create = definition.endpoint("create_list")
    example = list_id_note = None
    if create is not None and create.list_id is not None:
        example = None if create.example_response_json is None else _pretty(create.example_response_json)
        where = {"response_body": "in the response body at", "response_header": "in the response header",
                 "request_body": "in the request body at"}[create.list_id.source]
        list_id_note = f"$list_id is read {where} {create.list_id.path}"
    return Preview(**{**preview.__dict__, "controls": tuple(controls(definition)), "requests": requests,
                      "sheet": tuple(portal_sheet(definition)), "example_response": example,
                      "list_id_note": list_id_note, "notes": tuple(notes)})


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("portalspec", "templates/preview"),
                              autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render_html(preview: Preview, version: str = "") -> str:
    """The preview page: one self-contained HTML document."""
    return environment().get_template("index.html.j2").render(preview=preview, version=version)


def write_preview(preview: Preview, directory: str | os.PathLike[str], version: str = "") -> FsPath:
    """Write ``index.html`` into ``directory`` (made if missing); its path. :class:`InputError`
    when the directory cannot be written."""
    folder = FsPath(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "index.html"
        target.write_text(render_html(preview, version), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{exc.filename or folder}: {exc.strerror or exc}") from None
    return target

"""The portal sheet: for each field of the Developer Portal's own form, in the portal's order,
the exact text to paste into it.

Partners retype their integration into Amplitude's web form by hand; the sheet turns a
checked :class:`~portalspec.model.Definition` into that form's fields, section by section
(connection info, integration type, authentication, additional headers, custom fields,
mapping fields, then each endpoint with its error classifications), as plain values that
``portalspec preview`` shows with a copy button each. Templates are pasted as written: the
portal reads the same ``$variable`` syntax.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .kinds import KINDS
from .model import Definition, Endpoint

FIELD_TYPES = {"string": "String", "single_select": "Single Select", "button_group": "Button Group",
               "boolean": "Boolean (beyond the portal's form)", "number": "Number (beyond the portal's form)",
               "origin": "Base URL (beyond the portal's form)"}


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
AUTH_NAMES = {"none": "No authentication", "basic": "Basic Authentication", "header": "Authentication Header",
              "bearer": "Bearer Token", "oauth2": "OAuth2 (beyond the portal's form: nearest is Bearer Token)"}
TYPE_NAMES = {"list": "List-based", "property": "Property-based"}
ENDPOINT_TITLES = {"create_list": "List creation endpoint", "add_users": "Add users endpoint",
                   "remove_users": "Remove users endpoint", "update_users": "Property-based update endpoint"}


@dataclass(frozen=True)
class SheetRow:
    label: str  # the portal's name for the field
    text: str  # exactly what to type or paste ("" for an empty field)
    note: str = ""  # how to enter it, when it is not typed (a checkbox, an upload)


@dataclass(frozen=True)
class SheetSection:
    title: str
    rows: tuple[SheetRow, ...]


def _endpoint_rows(endpoint: Endpoint) -> list[SheetRow]:
    rows = [SheetRow("Method", endpoint.method), SheetRow("URL", endpoint.url)]
    if endpoint.auth is not None:
        credentials = ", ".join(f"{variable}: ${field}" for variable, field in endpoint.auth.fields)
        rows.append(SheetRow("Authentication (this endpoint)", AUTH_NAMES.get(endpoint.auth.method, endpoint.auth.method)
                             + (f" ({credentials})" if credentials else ""),
                             "an endpoint's own auth; the portal has one method for all API calls"))
    rows += [SheetRow(f"Header: {name}", value, "an endpoint header; the portal has Additional Headers only, "
                      "for every call") for name, value in endpoint.headers]
    rows.append(SheetRow("Payload", (endpoint.payload or "").strip(),
                         "" if endpoint.payload is not None else "no body: the portal always sends one"))
    if endpoint.list_id is not None:
        in_request = endpoint.list_id.source == "request_body"
        rows.append(SheetRow("List ID is in the request instead of the response", "yes" if in_request else "no",
                             "a checkbox: tick it" if in_request else "a checkbox: leave it unticked"))
        label = "Path to List ID in the request" if in_request else "Path to List ID in the response"
        note = "" if endpoint.list_id.source != "response_header" else \
            "a response header's name: the portal reads the body only"
        rows.append(SheetRow(label, endpoint.list_id.path, note))
    if endpoint.is_batch:
        rows.append(SheetRow("Maximum number of items in each API call (batch size)", str(endpoint.batch_size)))
        rows.append(SheetRow("Item template", (endpoint.item_template or "").strip()))
    for n, error in enumerate(endpoint.errors, 1):
        rows += [SheetRow(f"Error {n}: Failure Reason", error.reason or ""),
                 SheetRow(f"Error {n}: Status Code", str(error.status)),
                 SheetRow(f"Error {n}: Sub Error Code", error.sub_error_code_json or ""),
                 SheetRow(f"Error {n}: Error Message", error.message)]
    return rows


def portal_sheet(definition: Definition) -> list[SheetSection]:
    """The Developer Portal's form filled in from ``definition``, section by section in its order."""
    d = definition
    sections = [SheetSection("Connection info", (
        SheetRow("Display Name", d.display_name),
        SheetRow("Category", d.category or ""),
        SheetRow("Summary", d.summary or ""),
        SheetRow("Full Description", (d.description or "").strip()),
        SheetRow("Integration Logo", d.logo or "", "upload this PNG file" if d.logo else "no logo in the definition"),
    )), SheetSection("Integration type", (SheetRow("Integration type", TYPE_NAMES.get(d.type, d.type), "a choice"),))]
    auth = [SheetRow("Authentication method for all API calls", AUTH_NAMES.get(d.auth.method, d.auth.method),
                     "a choice")]
    if d.auth.header_name:
        auth.append(SheetRow("Header Name", d.auth.header_name))
    sections.append(SheetSection("Authentication", tuple(auth)))
    headers = [row for name, value in d.headers for row in (SheetRow("Header Name", name),
                                                          SheetRow("Header Value", value))]
    sections.append(SheetSection("Additional Headers", tuple(headers)))
    for n, f in enumerate(d.custom_fields, 1):
        rows = [SheetRow("Field Type", FIELD_TYPES.get(f.type, f.type), "a choice"),
                SheetRow("Field variable name used in payload", f.variable),
                SheetRow("Display name", f.display_name)]
        for option in f.options if f.type in ("single_select", "button_group") else ():
            rows += [SheetRow(f"Option {option.label!r}: label", option.label),
                     SheetRow(f"Option {option.label!r}: value", _text(option.value))]
        if f.default is not None:
            rows.append(SheetRow("Default Value", _text(f.default)))
        sections.append(SheetSection(f"Custom field {n}: {f.display_name}", tuple(rows)))
    for n, m in enumerate(d.mapping_fields, 1):
        rows = [SheetRow("Mapping Field Display Name", m.mapping_display_name),
                SheetRow("Amplitude Mapping Field", m.variable),
                SheetRow("Field Type", FIELD_TYPES.get(m.type, m.type), "a choice"),
                SheetRow("Display name", m.display_name)]
        for option in m.options:
            rows += [SheetRow(f"Option {option.label!r}: label", option.label),
                     SheetRow(f"Option {option.label!r}: value", _text(option.value))]
        if not m.required:
            rows.append(SheetRow("Required", "no", "beyond the portal's form: every portal mapping field is required"))
        sections.append(SheetSection(f"Mapping field {n}: {m.mapping_display_name}", tuple(rows)))
    for name in KINDS:
        endpoint = d.endpoint(name)
        if endpoint is not None and name in ENDPOINT_TITLES:  # (find_list has no place in the portal's form)
            sections.append(SheetSection(ENDPOINT_TITLES.get(name, name), tuple(_endpoint_rows(endpoint))))
    return sections

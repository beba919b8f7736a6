"""SARIF 2.1.0: diagnostics as the Static Analysis Results Interchange Format, for code hosts.

GitHub code scanning, GitLab and most CI systems read SARIF and show each result beside the
line it points at. :func:`sarif_log` turns ``(file, diagnostics)`` pairs into one SARIF log
(a plain ``dict``, ready for ``json.dumps``) with one run whose tool is portalspec: every
diagnostic code seen becomes a rule, every diagnostic a result with its file, line, column,
source line and JSON path (as a logical location).

The log is valid against the OASIS SARIF 2.1.0 JSON Schema (``tests/test_sarif.py`` checks it
against a copy of the schema shipped in ``tests/data``). ``validate --format sarif`` writes it;
any other command that reports diagnostics can too.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote

from .diagnostics import Diagnostic, Severity

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_URI = "https://portalspec.dev/"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def artifact_uri(path: str) -> str:
    """A file path as a SARIF URI reference: relative paths stay relative (code hosts resolve
    them against the repository root), with ``/`` separators and percent-encoding; absolute
    paths become ``file://`` URIs."""
    if os.path.isabs(path):
        return "file://" + quote(os.path.abspath(path).replace(os.sep, "/"), safe="/:")
    return quote(os.path.normpath(path).replace(os.sep, "/"), safe="/")


def _location(diagnostic: Diagnostic, file: str) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(diagnostic.file or file)}}
    if diagnostic.line is not None:
        region: dict[str, Any] = {"startLine": diagnostic.line}
        if diagnostic.column is not None:
            region["startColumn"] = diagnostic.column
        if diagnostic.source_line is not None:
            region["snippet"] = {"text": diagnostic.source_line.rstrip("\r\n")}
        physical["region"] = region
    location: dict[str, Any] = {"physicalLocation": physical}
    if diagnostic.path:
        location["logicalLocations"] = [{"fullyQualifiedName": diagnostic.json_path, "kind": "member"}]
    return location


def sarif_log(reports: Iterable[tuple[str, Sequence[Diagnostic]]], *, version: str,
              tool: str = "portalspec", help_uri: Callable[[str], str | None] | None = None) -> dict[str, Any]:
    """One SARIF log with one run: a result per diagnostic of every ``(file, diagnostics)`` pair.

    ``version`` is the tool's version; ``help_uri(code)``, when given, links each rule to its
    documentation. A file with no diagnostics adds nothing (an empty ``results`` list is
    how SARIF says "checked, nothing found")."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for file, diagnostics in reports:
        for d in diagnostics:
            if d.code not in index:
                index[d.code] = len(rules)
                rule: dict[str, Any] = {"id": d.code, "defaultConfiguration": {"level": _LEVELS[d.severity]}}
                uri = help_uri(d.code) if help_uri else None
                if uri:
                    rule["helpUri"] = uri
                rules.append(rule)
            text = d.message + (f" ({d.hint})" if d.hint else "")
            results.append({
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": _LEVELS[d.severity],
                "message": {"text": text},
                "locations": [_location(d, file)],
            })
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": tool, "version": version, "informationUri": TOOL_URI, "rules": rules}},
            "results": results,
        }],
    }

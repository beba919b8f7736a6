"""``portalspec check``: a definition against the partner's own OpenAPI description.

Thin: read the files, call :func:`portalspec.contract.check.check_contract`, print. The
contract package (and openapi-core under it) is imported only when the command runs.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from .. import __version__
from ..diagnostics import DefinitionError, InputError
from ..sarif import sarif_log
from .base import fail, main, style, summary

if TYPE_CHECKING:  # the contract package is imported when the command runs, not to list it
    from ..contract.check import ContractReport, Finding


@main.command()
@click.argument("definition", type=click.Path(path_type=str))
@click.argument("more", nargs=-1, type=click.Path(path_type=str), metavar="")
@click.option("--openapi", "specs", multiple=True, required=True, type=click.Path(path_type=str), metavar="SPEC",
              help="The partner's OpenAPI 3.0/3.1 description (JSON or YAML; $ref across local files). "
                   "Several: --openapi A.yaml B.yaml, or the option repeated.")
@click.option("--values", "values_file", type=click.Path(path_type=str),
              help="Values file (fields, mappings, cohort, list_id); what it leaves out is generated.")
@click.option("--users", "users_file", type=click.Path(path_type=str),
              help="Users file, as for render; without it sample users are generated.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="Output for people (text), for CI and tools (json), or SARIF 2.1.0 for code hosts (sarif).")
def check(definition: str, more: tuple[str, ...], specs: tuple[str, ...], values_file: str | None,
          users_file: str | None, fmt: str) -> None:
    """Check DEFINITION against the partner's OpenAPI description (--openapi SPEC [SPEC…]).

    Every endpoint is rendered (with the values and users given, else generated samples),
    matched to an operation by method, server and path, and validated by openapi-core:
    parameters, required headers, content type, body; then batch_size against maxItems,
    stated limits, and create_list's example_response and list_id.path against the
    response schema. Exit 0 when it matches (warnings allowed), 1 on any error.
    """
    from ..contract.check import Finding, check_contract
    from ..contract.load import DescriptionError, load_description
    from ..inputs import load_values, read_users
    from ..values import Values
    from ..validate import check_document, load_document, open_document

    document = open_document(definition)
    problems = [Finding(d) for d in check_document(document) if d.is_error]
    descriptions = []
    for spec in specs + more:
        try:
            descriptions.append(load_description(spec))
        except DescriptionError as exc:
            problems.extend(Finding(d, description=spec) for d in exc.diagnostics)
    if problems:  # the definition or a description cannot be used: say why, as validate does
        _report(fmt, definition, problems, None)
        sys.exit(1)
    try:
        loaded = load_document(document)
        values = load_values(values_file) if values_file else None
        # Without --values, each mapping variable takes the user property of its own name.
        read_with = values or Values(mappings={m.variable: m.variable for m in loaded.mapping_fields})
        users = read_users(users_file, loaded, read_with) if users_file else None
        report = check_contract(loaded, descriptions, values=values, users=users)
    except (InputError, DefinitionError) as exc:
        fail(str(exc))
    _report(fmt, definition, list(report.findings), report)
    sys.exit(0 if report.valid else 1)


def _report(fmt: str, definition: str, findings: list[Finding], report: ContractReport | None) -> None:
    diagnostics = [f.diagnostic for f in findings]
    errors, warnings = summary(diagnostics)
    if fmt == "sarif":
        click.echo(json.dumps(sarif_log([(definition, diagnostics)], version=__version__), indent=2,
                              ensure_ascii=False))
        return
    if fmt == "json":
        data = report.to_dict() if report is not None else \
            {"file": definition, "valid": False, "diagnostics": [f.to_dict() for f in findings]}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for d in diagnostics:
        click.echo(style(d))
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    if report is None:
        click.echo(f"{definition}: {click.style('not checked', fg='red', bold=True)} ({counts})")
        return
    for endpoint in report.endpoints:
        where = f"{endpoint.operation} in {endpoint.description}" if endpoint.operation else "no operation"
        click.echo(f"  {endpoint.endpoint} -> {where} ({endpoint.requests} request{'s' * (endpoint.requests != 1)})")
    verdict = click.style("matches", fg="green") if report.valid else click.style("does not match", fg="red", bold=True)
    names = ", ".join(d.title for d in report.descriptions)
    click.echo(f"{definition}: {verdict} {names} ({counts}; {report.requests} requests in {report.samples} "
               f"sample{'s' * (report.samples != 1)})")

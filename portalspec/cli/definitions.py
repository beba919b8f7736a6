"""Commands about definitions themselves: ``validate``, ``vars``, ``schema``."""

from __future__ import annotations

import json
import sys

import click

from .. import __version__
from ..extensions import TARGETS
from ..sarif import sarif_log
from ..schema import schema_text
from ..validate import check_document, open_document, variable_table
from .base import FORMAT, main, style, summary


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option("--target", type=click.Choice(TARGETS), default="portalspec", show_default=True,
              help="portalspec: list constructs beyond the Developer Portal's form as notes; "
                   "portal: refuse them (errors), naming the nearest portal way.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="Output for people (text), for CI and tools (json), or SARIF 2.1.0 for code hosts (sarif).")
def validate(files: tuple[str, ...], target: str, fmt: str) -> None:
    """Check definition FILES against the schema and the semantic rules.

    Every problem is reported in one run, errors first. Exit 0 when valid (warnings and
    notes allowed), 1 when any file has an error.
    """
    reports = [(f, check_document(open_document(f), target)) for f in files]
    invalid = any(any(d.is_error for d in ds) for _, ds in reports)
    if fmt == "sarif":
        click.echo(json.dumps(sarif_log(reports, version=__version__), indent=2, ensure_ascii=False))
    elif fmt == "json":
        click.echo(json.dumps({
            "valid": not invalid,
            "files": [{"file": f, "valid": not any(d.is_error for d in ds),
                       "errors": summary(ds)[0], "warnings": summary(ds)[1],
                       "diagnostics": [d.to_dict() for d in ds]} for f, ds in reports],
        }, indent=2, ensure_ascii=False))
    else:
        for f, ds in reports:
            for d in ds:
                click.echo(style(d))
            errors, warnings = summary(ds)
            verdict = click.style("invalid", fg="red", bold=True) if errors else click.style("valid", fg="green")
            notes = len(ds) - errors - warnings
            counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)})" \
                + (f"; {notes} construct{'s' * (notes != 1)} beyond the portal's form" if notes else "")
            click.echo(f"{f}: {verdict} ({counts}")
    sys.exit(1 if invalid else 0)


@main.command(name="vars")
@click.argument("file", type=click.Path(path_type=str))
@FORMAT
def vars_(file: str, fmt: str) -> None:
    """Show the portal's variable table of FILE: DECLARED, USED, PRE-DEFINED, and where used."""
    document = open_document(file)
    diagnostics = check_document(document)
    errors, _ = summary(diagnostics)
    if document.data is None:
        for d in diagnostics:
            click.echo(style(d), err=True)
        sys.exit(1)
    rows = variable_table(document)
    if fmt == "json":
        click.echo(json.dumps({"file": file, "valid": not errors, "variables": [r.to_dict() for r in rows]},
                              indent=2, ensure_ascii=False))
    else:
        mark = {True: "yes", False: ""}
        table = [("VARIABLE", "DECLARED", "USED", "PRE-DEFINED", "ORIGIN", "USED IN")]
        # A variable that comes with a construct beyond the portal's form says which (PS515).
        table += [(f"${r.name}", mark[r.declared], mark[r.used], mark[r.predefined],
                   r.origin + (f" ({', '.join(r.extensions)})" if r.extensions else ""),
                   ", ".join(r.used_in) or "-") for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
        for row in table:
            cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
            click.echo("  ".join(cells).rstrip())
    if errors:
        click.echo(f"note: {file} has {errors} error{'s' * (errors != 1)}; run 'portalspec validate {file}'",
                   err=True)
        sys.exit(1)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the definition format (for editors and other tools)."""
    click.echo(schema_text(), nl=False)

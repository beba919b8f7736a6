"""The command line: one thin click command per verb over the library.

Commands parse options, call one library function and print. Exit codes: 0 success (warnings
allowed), 1 a definition or input is invalid or a run failed, 2 usage errors (click's own).
"""

from __future__ import annotations

import json
import sys
from typing import Sequence

import click

from . import __version__
from .diagnostics import Diagnostic, Severity
from .schema import schema_text
from .validate import check_document, open_document, variable_table

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="Output for people (text) or for CI and tools (json).")


def _style(diagnostic: Diagnostic) -> str:
    text = diagnostic.format()
    color = "red" if diagnostic.severity is Severity.ERROR else "yellow"
    word = f"{diagnostic.severity.value}[{diagnostic.code}]"
    return text.replace(word, click.style(word, fg=color, bold=True), 1)


def _summary(diagnostics: Sequence[Diagnostic]) -> tuple[int, int]:
    errors = sum(d.is_error for d in diagnostics)
    return errors, len(diagnostics) - errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portalspec")
def main() -> None:
    """Amplitude cohort-sync integration definitions: validate, inspect, render."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@FORMAT
def validate(files: tuple[str, ...], fmt: str) -> None:
    """Check definition FILES against the schema and the semantic rules.

    Every problem is reported in one run, errors first. Exit 0 when valid (warnings
    allowed), 1 when any file has an error.
    """
    reports = [(f, check_document(open_document(f))) for f in files]
    invalid = any(any(d.is_error for d in ds) for _, ds in reports)
    if fmt == "json":
        click.echo(json.dumps({
            "valid": not invalid,
            "files": [{"file": f, "valid": not any(d.is_error for d in ds),
                       "errors": _summary(ds)[0], "warnings": _summary(ds)[1],
                       "diagnostics": [d.to_dict() for d in ds]} for f, ds in reports],
        }, indent=2, ensure_ascii=False))
    else:
        for f, ds in reports:
            for d in ds:
                click.echo(_style(d))
            errors, warnings = _summary(ds)
            verdict = click.style("invalid", fg="red", bold=True) if errors else click.style("valid", fg="green")
            counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
            click.echo(f"{f}: {verdict} ({counts})")
    sys.exit(1 if invalid else 0)


@main.command(name="vars")
@click.argument("file", type=click.Path(path_type=str))
@FORMAT
def vars_(file: str, fmt: str) -> None:
    """Show the portal's variable table of FILE: DECLARED, USED, PRE-DEFINED, and where used."""
    document = open_document(file)
    diagnostics = check_document(document)
    errors, _ = _summary(diagnostics)
    if document.data is None:
        for d in diagnostics:
            click.echo(_style(d), err=True)
        sys.exit(1)
    rows = variable_table(document)
    if fmt == "json":
        click.echo(json.dumps({"file": file, "valid": not errors, "variables": [r.to_dict() for r in rows]},
                              indent=2, ensure_ascii=False))
    else:
        mark = {True: "yes", False: ""}
        table = [("VARIABLE", "DECLARED", "USED", "PRE-DEFINED", "ORIGIN", "USED IN")]
        table += [(f"${r.name}", mark[r.declared], mark[r.used], mark[r.predefined], r.origin,
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

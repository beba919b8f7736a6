"""The command line: one thin click command per verb over the library.

Commands parse options, call one library function and print. Exit codes: 0 success (warnings
allowed), 1 a definition or input is invalid or a run failed, 2 usage errors (click's own).
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn, Sequence

import click

from . import __version__
from .compiler import compile as compile_definition
from .diagnostics import DefinitionError, Diagnostic, InputError, Severity
from .formats import FORMATS, format_requests
from .inputs import UserSource, load_values, read_users
from .macros import MacroContext, macro_table, parse_now
from .schema import schema_text
from .validate import check_document, load, open_document, variable_table

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


def _fail(message: str) -> "NoReturn":
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(1)


def _load_or_exit(file: str):  # -> Definition
    try:
        return load(file)
    except DefinitionError as exc:
        for d in exc.diagnostics:
            click.echo(_style(d), err=True)
        _fail(f"{file} is not a valid definition; fix the errors above ('portalspec validate {file}')")


def _read_json(path: str) -> object:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        _fail(f"{path}: {exc.strerror or exc}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f":{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        _fail(f"{path}{where}: not valid JSON: {getattr(exc, 'msg', exc)}")


@main.command()
@click.argument("definition", type=click.Path(path_type=str))
@click.option("--values", "values_file", required=True, type=click.Path(path_type=str),
              help="Values file: fields, mappings, cohort (and list_id).")
@click.option("--users", "users_file", type=click.Path(path_type=str),
              help="Users: the portal's test CSV, a cohort export CSV, or JSON lines (gzip accepted).")
@click.option("--endpoint", type=click.Choice(["create_list", "add_users", "remove_users", "update_users"]),
              help="Render only this endpoint's requests (default: the whole lifecycle).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("--reveal-secrets", is_flag=True, help="Show auth variables and secret fields instead of masking them.")
@click.option("--list-id", help="The list id for add/remove (overrides the values file and any response).")
@click.option("--response", "response_file", type=click.Path(path_type=str),
              help="A create_list response (JSON) to read the list id from, as Amplitude would.")
@click.option("--now", help="The time macros see: ISO 8601 or epoch seconds (for reproducible previews).")
@click.option("--seed", type=int, help="Seed for $request_id, for reproducible previews.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="Write here instead of stdout.")
def render(definition: str, values_file: str, users_file: str | None, endpoint: str | None, fmt: str,
           reveal_secrets: bool, list_id: str | None, response_file: str | None, now: str | None,
           seed: int | None, output) -> None:
    """Render the exact HTTP requests Amplitude would send for DEFINITION.

    Order: create_list (list-based), then every batch of entering users, then every batch
    of leaving users. Secrets are masked unless --reveal-secrets.
    """
    integration = compile_definition(_load_or_exit(definition))
    try:
        when = parse_now(now) if now else None
    except ValueError:
        _fail(f"--now {now!r}: expected ISO 8601 (2026-01-01T00:00:00Z) or epoch seconds")
    context = MacroContext(now=when, seed=seed) if when else MacroContext(seed=seed)
    response = _read_json(response_file) if response_file else None
    try:
        values = load_values(values_file)
        users = read_users(users_file, integration.definition, values) if users_file else UserSource("", ())
        requests = integration.render(values, users, endpoint=endpoint, list_id=list_id, response=response,
                                      context=context, mask_secrets=not reveal_secrets)
        started = context.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for chunk in format_requests(requests, fmt, env_prefix=integration.name, started=started,
                                     version=__version__):
            output.write(chunk)
    except InputError as exc:
        _fail(str(exc))
    if users.skipped_count:
        click.echo(click.style("warning: ", fg="yellow", bold=True)
                   + f"{users.skipped_count} user(s) not sent, no value for a mapped property: "
                   + ", ".join(users.skipped) + (", …" if users.skipped_count > len(users.skipped) else ""), err=True)


@main.command()
@FORMAT
def macros(fmt: str) -> None:
    """List the pre-defined macros (computed variables) with an example of each."""
    rows = macro_table()
    if fmt == "json":
        click.echo(json.dumps([{"name": f"${m.name}", "description": m.description, "example": m.example}
                               for m in rows], indent=2, ensure_ascii=False))
        return
    width = max(len(m.name) for m in rows) + 1
    for m in rows:
        click.echo(f"${m.name.ljust(width)} {m.description}\n{' ' * (width + 2)}e.g. {m.example}")

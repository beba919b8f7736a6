"""Commands of the authoring loop: ``init``, ``preview`` and ``diff``."""

from __future__ import annotations

import json
import os
import sys
from typing import Callable

import click

from .. import __version__
from ..auth import AUTH_METHODS
from ..diagnostics import InputError
from ..diff import DiffReport, Impact, diff_documents
from ..inputs import load_values, read_users
from ..kinds import TYPES
from ..loader import Document, read_document
from ..preview import build_preview, example_values, write_preview
from ..revisions import exists_in, is_commit, open_source, revision_spec, split_revision
from ..scaffold import (DEFAULT_BASE_URL, ScaffoldFile, ScaffoldOptions, default_display_name, default_name,
                        scaffold, schema_reference, write_scaffold)
from ..validate import check_document, load_document
from .base import fail, main, style, warn


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=str))
@click.option("--name", help="The integration's name (a slug); default: from the directory's name.")
@click.option("--display-name", help="The portal's Display Name; default: from the name.")
@click.option("--type", "type_", type=click.Choice(TYPES), help="list (create a list, add, remove) or property.")
@click.option("--auth", type=click.Choice(list(AUTH_METHODS)), help="The authentication method.")
@click.option("--header-name", help="The header carrying the API key (with --auth header).")
@click.option("--base-url", help=f"The API's base URL (default {DEFAULT_BASE_URL}).")
@click.option("--from-openapi", "spec", type=click.Path(dir_okay=False, path_type=str),
              help="Draft the definition from this OpenAPI description (JSON or YAML, local files only), "
                   "for the operations named by --create, --add and --remove, or --update.")
@click.option("--create", "create_op", metavar="OP", help="With --from-openapi: the operation id that creates a list.")
@click.option("--add", "add_op", metavar="OP", help="With --from-openapi: the operation id that adds users to it.")
@click.option("--remove", "remove_op", metavar="OP",
              help="With --from-openapi: the operation id that removes users from it.")
@click.option("--update", "update_op", metavar="OP",
              help="With --from-openapi: the operation id that sets a user's trait (a property definition).")
@click.option("-y", "--yes", is_flag=True, help="Take the defaults for everything not given; never prompt.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(directory: str, name: str | None, display_name: str | None, type_: str | None, auth: str | None,
         header_name: str | None, base_url: str | None, spec: str | None, create_op: str | None,
         add_op: str | None, remove_op: str | None, update_op: str | None, yes: bool, force: bool) -> None:
    """Start a new integration in DIRECTORY (default: here).

    Writes integration.yaml, values.yaml, users.csv and test_integration.py, which validate,
    render, serve, test and pass pytest as generated. On a terminal it asks for what the
    options do not give; elsewhere (or with --yes) it takes the defaults.

    With --from-openapi SPEC it drafts integration.yaml (with values.yaml and users.csv) from
    the partner's description instead: auth, URLs, headers, payloads, item template, list id
    and batch size from the named operations, and a '# DECIDE:' comment wherever the
    description leaves a choice to a person. Without operations it lists the description's.
    """
    operations = (create_op, add_op, remove_op, update_op)
    if spec is None:
        if any(operations):
            raise click.UsageError("--create, --add, --remove and --update name operations of --from-openapi SPEC")
    else:
        if any(v is not None for v in (type_, auth, header_name, base_url)):
            raise click.UsageError("--from-openapi takes the type, auth and URLs from the description: "
                                   "leave out --type, --auth, --header-name and --base-url")
        _init_from_openapi(directory, spec, operations, name, display_name, force)
        return
    ask = not yes and sys.stdin.isatty()

    def choose(value: str | None, prompt: str, default: str, choices: list[str] | None = None) -> str:
        if value is not None or not ask:
            return value if value is not None else default
        kind = click.Choice(choices) if choices else None
        return str(click.prompt(prompt, default=default, type=kind, show_choices=bool(choices)))

    name = choose(name, "Integration name (slug)", default_name(directory))
    display_name = choose(display_name, "Display name", default_display_name(name))
    type_ = choose(type_, "Type", "list", list(TYPES))
    auth = choose(auth, "Auth method", "bearer", list(AUTH_METHODS))
    header = choose(header_name, "Header carrying the API key", "X-Api-Key") if auth == "header" else \
        (header_name or "X-Api-Key")
    base_url = choose(base_url, "API base URL", DEFAULT_BASE_URL)
    _write(directory, lambda: scaffold(ScaffoldOptions(name, display_name, type_, auth, header, base_url),
                                       directory), force)
    definition = os.path.join(directory, "integration.yaml")
    click.echo(f"next: portalspec preview {definition} --values {os.path.join(directory, 'values.yaml')} "
               f"-o {os.path.join(directory, 'preview')}")


def _write(directory: str, files: Callable[[], list[ScaffoldFile]], force: bool) -> None:
    """Make the files and write them, refusing to overwrite unless forced; say what was written."""
    try:
        written = write_scaffold(directory, files(), force=force)
    except InputError as exc:
        fail(str(exc))
    for path in written:
        click.echo(f"wrote {path}")


def _init_from_openapi(directory: str, spec: str, operations: tuple[str | None, ...], name: str | None,
                       display_name: str | None, force: bool) -> None:
    from ..contract.draft import Operations, draft
    from ..contract.load import DescriptionError, load_description

    try:
        description = load_description(spec, validate_spec=False)
    except DescriptionError as exc:
        for d in exc.diagnostics:
            click.echo(style(d), err=True)
        fail(f"{spec} cannot be read as an OpenAPI description")
    if not any(operations):
        click.echo(f"{description.name}: name the operations to draft from (--create, --add and --remove, or "
                   "--update); it has:")
        for op in description.operations():
            click.echo(f"  {op.operation_id or '(no operationId)'}  {op.method.upper()} {op.path}")
        sys.exit(1)
    schema_path, schema_files = schema_reference(directory)
    decisions = 0

    def files() -> list[ScaffoldFile]:
        nonlocal decisions
        drafted = draft(description, Operations(*operations), schema_path=schema_path, name=name,
                        display_name=display_name)
        decisions = len(drafted.decisions)
        return [ScaffoldFile("integration.yaml", drafted.definition), ScaffoldFile("values.yaml", drafted.values),
                ScaffoldFile("users.csv", drafted.users), *schema_files]

    _write(directory, files, force)
    definition = os.path.join(directory, "integration.yaml")
    problems = [d for d in check_document(read_document(definition)) if d.is_error]
    for d in problems:  # (a draft that does not validate is a bug; say so rather than hide it)
        click.echo(style(d), err=True)
    click.echo(f"{decisions} choice(s) marked '# DECIDE:' in {definition}; then: portalspec check "
               f"{definition} --openapi {spec}")


@main.command()
@click.argument("definition", type=click.Path(path_type=str))
@click.option("--values", "values_file", type=click.Path(path_type=str),
              help="Values file for the requests (default: example values from the definition).")
@click.option("--users", "users_file", type=click.Path(path_type=str),
              help="Users for the requests: the portal's test CSV, a cohort export CSV or JSON lines "
                   "(default: three example users).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Directory to write the site into (index.html).")
def preview(definition: str, values_file: str | None, users_file: str | None, output: str) -> None:
    """Write a static HTML preview of DEFINITION: tile, setup modal, variables, requests, portal sheet.

    The page needs no network. An invalid definition still gets a page, showing each
    diagnostic beside its line; the exit code is then 1.
    """
    document = read_document(definition)
    try:
        values = load_values(values_file) if values_file else None
        users = None
        if users_file:
            if any(d.is_error for d in check_document(document)):
                warn(f"--users {users_file} not read: {definition} is not valid")
            else:
                checked = load_document(document)
                users = list(read_users(users_file, checked, values or example_values(checked)))
        page = build_preview(document, values, users)
        index = write_preview(page, output, __version__)
    except InputError as exc:
        fail(str(exc))
    for d in page.diagnostics:
        if d.is_error:
            click.echo(style(d), err=True)
    click.echo(f"wrote {index}")
    if not page.valid:
        fail(f"{definition} has {page.errors} error(s); the page shows them beside their lines")


def _load_side(spec: str) -> Document:
    try:
        document = open_source(spec)
    except InputError as exc:
        fail(str(exc))
    if not isinstance(document.data, dict):
        for d in document.diagnostics or check_document(document):
            click.echo(style(d), err=True)
        fail(f"{spec} cannot be read as a definition")
    errors = sum(d.is_error for d in check_document(document))
    if errors:
        warn(f"{spec} has {errors} error(s) ('portalspec validate'); the comparison reads it as it stands")
    return document


_COLORS = {Impact.BREAKING: "red", Impact.RISKY: "yellow", Impact.SAFE: "green"}


def _print_text(report: DiffReport) -> None:
    click.echo(f"{report.old_file} → {report.new_file}")
    for c in report.changes:
        word = click.style(c.impact.value.upper().ljust(8), fg=_COLORS[c.impact], bold=True)
        click.echo(f"{word} [{c.rule}] {c.message}")
        click.echo(f"         old: {c.old.location()}  new: {c.new.location()}")
    counts = ", ".join(f"{report.count(i)} {i.value}" for i in Impact)
    click.echo(f"{counts}" if report.changes else "no changes")


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--against", metavar="REV",
              help="Compare each given working file with its version in git revision REV (e.g. HEAD); "
                   "files not in REV are new and pass.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--allow-breaking", is_flag=True, help="Exit 0 even when a change is breaking.")
def diff(sources: tuple[str, ...], against: str | None, fmt: str, allow_breaking: bool) -> None:
    """Compare two versions of a definition: OLD NEW, each a file or git:REV:path.

    Each change is breaking, risky or safe for customers who already set up the destination,
    and is positioned in both files. Exit 1 when something is breaking (0 with
    --allow-breaking), 2 for usage errors. With --against REV, each SOURCE is compared with
    git:REV:SOURCE (for pre-commit).
    """
    pairs: list[tuple[str, str]] = []
    if against is None:
        if len(sources) != 2:
            raise click.UsageError("give OLD and NEW (two files or git:REV:path), or --against REV FILE…")
        pairs = [(sources[0], sources[1])]
    else:
        if not is_commit(against) and against != "HEAD":
            raise click.UsageError(f"--against {against}: not a commit")
        for file in sources:
            spec = revision_spec(against, file)
            if exists_in(*split_revision(spec)):
                pairs.append((spec, file))
            elif fmt == "text":
                click.echo(f"{file}: new (not in {against}), nothing to compare")
    reports = [diff_documents(_load_side(old), _load_side(new)) for old, new in pairs]
    if fmt == "json":
        click.echo(json.dumps(reports[0].to_dict() if against is None else [r.to_dict() for r in reports],
                              indent=2, ensure_ascii=False))
    else:
        for report in reports:
            _print_text(report)
    breaking = any(r.breaking for r in reports)
    if breaking and allow_breaking and fmt == "text":
        click.echo("breaking changes allowed (--allow-breaking)")
    sys.exit(1 if breaking and not allow_breaking else 0)

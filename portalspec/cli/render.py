"""Commands about rendering: ``render`` and ``macros``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from typing import IO, Iterator

import click

from .. import __version__
from ..diagnostics import InputError
from ..formats import FORMATS, format_bytes, format_requests
from ..inputs import load_values, read_users
from ..integration import compile as compile_definition
from ..kinds import ENDPOINTS
from ..macros import MacroContext, macro_table, parse_now
from ..values import UserSource
from .base import FORMAT, fail, load_or_exit, main, read_json, warn


@main.command()
@click.argument("definition", type=click.Path(path_type=str))
@click.option("--values", "values_file", required=True, type=click.Path(path_type=str),
              help="Values file: fields, mappings, cohort (and list_id).")
@click.option("--users", "users_file", type=click.Path(path_type=str),
              help="Users: the portal's test CSV, a cohort export CSV, or JSON lines (gzip accepted).")
@click.option("--endpoint", type=click.Choice(list(ENDPOINTS)),
              help="Render only this endpoint's requests (default: the whole lifecycle).")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="json", show_default=True)
@click.option("--reveal-secrets", is_flag=True, help="Show auth variables and secret fields instead of masking them.")
@click.option("--list-id", help="The list id for add/remove (overrides the values file and any response).")
@click.option("--response", "response_file", type=click.Path(path_type=str),
              help="A create_list response (JSON) to read the list id from, as Amplitude would.")
@click.option("--now", help="The time macros see: ISO 8601 or epoch seconds (for reproducible previews).")
@click.option("--seed", type=int, help="Seed for $request_id, for reproducible previews.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default="-",
              help="Write here instead of stdout (the file appears only when the whole render succeeded).")
def render(definition: str, values_file: str, users_file: str | None, endpoint: str | None, fmt: str,
           reveal_secrets: bool, list_id: str | None, response_file: str | None, now: str | None,
           seed: int | None, output: str) -> None:
    """Render the exact HTTP requests Amplitude would send for DEFINITION.

    Order: create_list (list-based), then every batch of entering users, then every batch
    of leaving users. Secrets are masked unless --reveal-secrets.
    """
    integration = compile_definition(load_or_exit(definition))
    try:
        when = parse_now(now) if now else None
    except ValueError:
        fail(f"--now {now!r}: expected ISO 8601 (2026-01-01T00:00:00Z) or epoch seconds")
    context = MacroContext(now=when, seed=seed) if when else MacroContext(seed=seed)
    response = read_json(response_file) if response_file else None
    try:
        values = load_values(values_file, integration.definition)
        users = read_users(users_file, integration.definition, values) if users_file else UserSource("", ())
        requests = integration.render(values, users, endpoint=endpoint, list_id=list_id, response=response,
                                      context=context, mask_secrets=not reveal_secrets)
        started = context.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        options = dict(env_prefix=integration.name, started=started, version=__version__)
        if output == "-":
            for chunk in format_requests(requests, fmt, **options):
                sys.stdout.write(chunk)
        else:
            with _destination(output) as out:  # bytes straight to the file: no text layer
                for data in format_bytes(requests, fmt, **options):
                    out.write(data)
    except InputError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{output}: {exc.strerror or exc}")
    if users.skipped_count:
        warn(f"{users.skipped_count} user(s) not sent, no value for a mapped property: "
             + ", ".join(users.skipped) + (", …" if users.skipped_count > len(users.skipped) else ""))


@contextlib.contextmanager
def _destination(path: str) -> Iterator[IO[bytes]]:
    """A temporary binary file beside ``path``, moved into place only on success."""
    folder = os.path.dirname(os.path.abspath(path))
    handle = tempfile.NamedTemporaryFile("wb", dir=folder, prefix=".portalspec-", delete=False)
    try:
        with handle:
            yield handle
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise


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

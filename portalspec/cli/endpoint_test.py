"""The ``test`` command: the portal's Testing tab, from a terminal."""

from __future__ import annotations

import json
import sys

import click

from ..diagnostics import InputError
from ..endpoint_test import run_endpoint_test
from ..inputs import load_values, read_users
from ..integration import compile as compile_definition
from ..transport import DEFAULT_TIMEOUT, Transport
from .base import BASE_URL, FORMAT, fail, load_or_exit, main


@main.command(name="test")
@click.argument("definition", type=click.Path(path_type=str))
@click.option("--values", "values_file", required=True, type=click.Path(path_type=str),
              help="Values file: fields, mappings and the cohort.")
@click.option("--users", "users_file", required=True, type=click.Path(path_type=str),
              help="Test users: the portal's test CSV (operation,<mapping variables>,amp_cohort_*).")
@BASE_URL
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds to wait for each response.")
@FORMAT
def endpoint_test(definition: str, values_file: str, users_file: str, base_url: str | None, timeout: float,
                  fmt: str) -> None:
    """Send DEFINITION's requests for real and report each, as the portal's Testing tab does.

    create_list first (showing the extracted $list_id), then the add and remove batches (or
    the update batches). Nothing is retried. Exit code 0 when every request succeeded.
    """
    integration = compile_definition(load_or_exit(definition))
    try:
        values = load_values(values_file, integration.definition)
        users = read_users(users_file, integration.definition, values)
        with Transport(timeout=timeout, base_url=base_url) as transport:
            report = run_endpoint_test(integration, values, users, transport=transport)
    except InputError as exc:
        fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        text = report.to_text()
        last = text.rfind("\n") + 1
        color = "green" if report.passed else "red"
        click.echo(text[:last] + click.style(text[last:], fg=color, bold=True))
    sys.exit(0 if report.passed else 1)

"""The command line's trunk: the ``portalspec`` group and what every command shares.

Each command group lives in a module of its own beside this one (definitions, render, …),
thin over the library: parse options, call one library function, print. Exit codes: 0
success (warnings allowed), 1 a definition or input is invalid or a run failed, 2 usage
errors (click's own).
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn, Sequence

import click

from .. import __version__
from ..diagnostics import DefinitionError, Diagnostic, InputError, Severity
from ..model import Definition
from ..transport import check_base_url
from ..validate import load

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="Output for people (text) or for CI and tools (json).")


def style(diagnostic: Diagnostic) -> str:
    text = diagnostic.format()
    color = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}[diagnostic.severity]
    word = f"{diagnostic.severity.value}[{diagnostic.code}]"
    return text.replace(word, click.style(word, fg=color, bold=True), 1)


def summary(diagnostics: Sequence[Diagnostic]) -> tuple[int, int]:
    """(errors, warnings); notes are neither."""
    errors = sum(d.is_error for d in diagnostics)
    return errors, sum(d.severity is Severity.WARNING for d in diagnostics)


def fail(message: str) -> NoReturn:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(1)


def warn(message: str) -> None:
    click.echo(click.style("warning: ", fg="yellow", bold=True) + message, err=True)


def load_or_exit(file: str) -> Definition:
    try:
        return load(file)
    except DefinitionError as exc:
        for d in exc.diagnostics:
            click.echo(style(d), err=True)
        fail(f"{file} is not a valid definition; fix the errors above ('portalspec validate {file}')")


def read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}")
    except UnicodeDecodeError as exc:
        fail(f"{path}: not valid UTF-8: {exc}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portalspec")
def main() -> None:
    """Amplitude cohort-sync integration definitions: validate, inspect, render, test, sync."""


def _base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        return check_base_url(value) if value else None
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


BASE_URL = click.option("--base-url", callback=_base_url, metavar="URL",
                        help="Send to this scheme and host instead of each endpoint's (staging, or "
                             "portalspec serve); the path stays the definition's.")


"""The command line's trunk: the ``portalspec`` group and what every command shares.

Each command group lives in a module of its own beside this one (definitions, render, …),
thin over the library: parse options, call one library function, print. Exit codes: 0
success (warnings allowed), 1 a definition or input is invalid or a run failed, 2 usage
errors (click's own).
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

import click

from .. import __version__
from ..diagnostics import DefinitionError, Diagnostic, InputError, Severity

if TYPE_CHECKING:
    from ..model import Definition

# Each command and the module of this package that defines it, with the first paragraph of its
# help: ``portalspec --help`` lists them from here, and a command's module (and what it uses:
# httpx, werkzeug, jsonschema …) is imported only when that command runs or shows its help.
# tests/test_cli.py checks this table against the commands themselves.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "Check DEFINITION against the partner's OpenAPI description (--openapi SPEC [SPEC…])."),
    "cohorts": ("cohorts", "Amplitude's cohorts, through its Behavioral Cohorts API: list them, download one as "
                           "CSV, upload one from a file of ids."),
    "diff": ("authoring", "Compare two versions of a definition: OLD NEW, each a file or git:REV:path."),
    "init": ("authoring", "Start a new integration in DIRECTORY (default: here)."),
    "macros": ("render", "List the pre-defined macros (computed variables) with an example of each."),
    "openapi": ("openapi", "Write the OpenAPI 3.1 description of the API DEFINITION calls: what a destination "
                           "must implement."),
    "preview": ("authoring", "Write a static HTML preview of DEFINITION: tile, setup modal, variables, requests, "
                             "portal sheet."),
    "render": ("render", "Render the exact HTTP requests Amplitude would send for DEFINITION."),
    "schema": ("definitions", "Print the JSON Schema of the definition format (for editors and other tools)."),
    "serve": ("serve", "Serve the destination DEFINITION describes, for testing it end to end."),
    "sync": ("sync", "Sync a cohort: create the list once, then send who entered and who left since the "
                     "last run."),
    "test": ("endpoint_test", "Send DEFINITION's requests for real and report each, as the portal's Testing tab "
                              "does."),
    "validate": ("definitions", "Check definition FILES against the schema and the semantic rules."),
    "vars": ("definitions", "Show the portal's variable table of FILE: DECLARED, USED, PRE-DEFINED, and where "
                            "used."),
}


class LazyGroup(click.Group):
    """A group whose commands' modules are imported when a command is used, not to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"portalspec.cli.{COMMANDS[cmd_name][0]}")  # it registers its commands
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            summary = COMMANDS[name][1] if name in COMMANDS and name not in self.commands else ""
            if not summary:  # not in the table (or registered already): ask the command itself
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, _short_help(summary, limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

def _short_help(text: str, limit: int) -> str:
    """The first sentence of ``text``, cut at a word to ``limit`` characters (as click shows a
    command's help; its own helper is deprecated from click 8.5)."""
    first = text.split(". ", 1)[0].rstrip(".")
    if len(first) <= limit:
        return first
    cut = first[: max(limit - 3, 0)].rsplit(" ", 1)[0]
    return cut + "..."


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
    from ..validate import load

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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portalspec")
def main() -> None:
    """Amplitude cohort-sync integration definitions: validate, inspect, render, test, sync."""
    pace_the_collector()


def pace_the_collector() -> None:
    """Reading a large users file makes millions of short-lived containers (a dict per JSON
    line, a list per block) that reference counting frees. At CPython's default pace (a young
    collection every 700 allocations) the cyclic collector spent about a fifth of a large
    read walking them. What start-up made is frozen out of its way, and it runs at most every
    50,000 allocations: cycles are still collected, later. A process setting, so the
    command line's, never the library's."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from ..transport import check_base_url

    try:
        return check_base_url(value) if value else None
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


BASE_URL = click.option("--base-url", callback=_base_url, metavar="URL",
                        help="Send to this scheme and host instead of each endpoint's (staging, or "
                             "portalspec serve); the path stays the definition's.")


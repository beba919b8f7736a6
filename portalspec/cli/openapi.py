"""``portalspec openapi``: the OpenAPI description of what a definition's destination must implement."""

from __future__ import annotations

import click

from ..contract.export import FORMATS, dump, format_for, openapi as describe
from .base import fail, load_or_exit, main


@main.command()
@click.argument("definition", type=click.Path(path_type=str))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str),
              help="Write to this file (JSON for a .json name, YAML otherwise) instead of standard output.")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="yaml or json (default: from the -o file's name; YAML on standard output).")
def openapi(definition: str, output: str | None, fmt: str | None) -> None:
    """Write the OpenAPI 3.1 description of the API DEFINITION calls: what a destination must implement.

    Paths, methods and parameters from the endpoints' URLs, the security scheme from the auth
    method, request schemas from the templates, create_list's response with the list id, and
    the error classifications as responses. Hand it to the API team, or to any OpenAPI tool.
    """
    text = dump(describe(load_or_exit(definition)), fmt or format_for(output))
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        fail(f"{output}: {exc.strerror or exc}")
    click.echo(f"wrote {output}", err=True)

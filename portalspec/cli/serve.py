"""The ``serve`` command: run the destination a definition describes, on this machine."""

from __future__ import annotations

import click

from ..destination import BODY_TIMEOUT, MAX_BODY, Faults, build_destination
from ..diagnostics import InputError
from ..serve import SOCKET_TIMEOUT, DestinationServer
from ..store import REQUEST_LOG
from .base import fail, load_or_exit, main


@main.command()
@click.argument("definition", type=click.Path(path_type=str))
@click.option("--values", "values_file", required=True, type=click.Path(path_type=str),
              help="Values file: the credentials and fields the destination expects.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--state", "state_file", type=click.Path(path_type=str, dir_okay=False),
              help="Keep lists, members and the request log in this SQLite file (default: in memory).")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of endpoint requests that fail on purpose (0..1).")
@click.option("--fail-status", type=click.Choice(["500", "429"]), default="500", show_default=True,
              help="Status of injected failures.")
@click.option("--retry-after", type=click.IntRange(0), help="Send Retry-After: S with injected failures.")
@click.option("--latency", "latency_ms", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Milliseconds added to every endpoint request.")
@click.option("--seed", type=int, help="Seed for --fail-rate, so which requests fail is reproducible.")
@click.option("--token-uses", type=click.IntRange(1),
              help="OAuth2: an access token is taken on this many requests, then refused (401), so senders "
                   "must refresh it (also: POST /_portalspec/expire-tokens).")
@click.option("--socket-timeout", type=click.FloatRange(0, min_open=True), default=SOCKET_TIMEOUT,
              show_default=True, help="Seconds a connection may keep the server waiting on one read or write.")
@click.option("--body-timeout", type=click.FloatRange(0, min_open=True), default=BODY_TIMEOUT,
              show_default=True, help="Seconds to receive a whole request body (408 after).")
@click.option("--max-body-bytes", type=click.IntRange(1), default=MAX_BODY, show_default=True,
              help="Largest request body accepted (413 above).")
@click.option("--request-log", "request_log", type=click.IntRange(1), default=REQUEST_LOG, show_default=True,
              help="Requests kept in /_portalspec/requests (the last ones).")
def serve(definition: str, values_file: str, host: str, port: int, state_file: str | None, fail_rate: float,
          fail_status: str, retry_after: int | None, latency_ms: float, seed: int | None, token_uses: int | None,
          socket_timeout: float,
          body_timeout: float, max_body_bytes: int, request_log: int) -> None:
    """Serve the destination DEFINITION describes, for testing it end to end.

    Routes are the endpoints' URL paths; credentials, bodies and lists are checked as the
    definition says. GET /_portalspec/state shows the lists and members, GET
    /_portalspec/requests the requests received. One log line per request on stderr; Ctrl-C
    stops.
    """
    load_or_exit(definition)  # the diagnostics, if any, as every command shows them
    try:
        faults = Faults(fail_rate, int(fail_status), retry_after, latency_ms, seed, token_uses)
        destination = build_destination(definition, values_file, state=state_file, faults=faults,
                                        log=lambda line: click.echo(line, err=True), max_body_bytes=max_body_bytes,
                                        body_timeout=body_timeout, request_log=request_log)
        server = DestinationServer(destination, host, port, socket_timeout=socket_timeout)
    except InputError as exc:
        fail(str(exc))
    click.echo(f"portalspec serve: {destination.definition.name} at {server.url} "
               f"(state: {state_file or 'in memory'}; Ctrl-C to stop)", err=True)
    for route in destination.routes():
        click.echo(f"  {route}", err=True)
    try:
        server.serve_forever()  # returns on Ctrl-C (werkzeug catches it and closes the socket)
    except KeyboardInterrupt:
        pass  # a second Ctrl-C while closing
    finally:
        destination.store.close()
    click.echo("portalspec serve: stopped", err=True)

"""Commands about Amplitude's cohorts: ``cohorts list``, ``cohorts download`` and ``cohorts
upload``, over :mod:`portalspec.amplitude` (the Behavioral Cohorts API)."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import click

from ..amplitude import (DEFAULT_EXPORT_TIMEOUT, DEFAULT_POLL_INTERVAL, ID_TYPES, AmplitudeClient, CohortInfo,
                         RetryNotice, read_upload_ids)
from ..diagnostics import AmplitudeError, PortalspecError
from ..retry import RetryPolicy
from .base import FORMAT, fail, main, warn

PLAIN_PROGRESS_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal

_OPTIONS = [
    click.option("--api-key", envvar="AMPLITUDE_API_KEY", show_envvar=True, metavar="KEY",
                 help="The project's API key (Amplitude: Settings → Projects → General)."),
    click.option("--secret-key", envvar="AMPLITUDE_SECRET_KEY", show_envvar=True, metavar="KEY",
                 help="The project's secret key."),
    click.option("--region", type=click.Choice(["us", "eu"]), default="us", show_default=True,
                 help="Where the project's data lives: us (amplitude.com) or eu (analytics.eu.amplitude.com)."),
    click.option("--amplitude-url", metavar="URL",
                 help="Another base URL (a proxy, a local fake); overrides --region."),
    click.option("--max-retries", type=click.IntRange(min=0), default=RetryPolicy().max_retries, show_default=True,
                 help="Retries of a 429, 5xx or connection error."),
    click.option("--backoff-base", type=click.FloatRange(min=0), default=RetryPolicy().base, show_default=True,
                 help="Seconds before the first retry; doubling each time (a 429's Retry-After wins)."),
]


class _Console:
    """Progress on stderr: on a terminal one line rewritten in place; elsewhere (CI logs) a plain
    line at most every PLAIN_PROGRESS_EVERY seconds, so logs stay short."""

    def __init__(self, *, tty: bool | None = None, every: float = PLAIN_PROGRESS_EVERY) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.every = every
        self._width = 0  # of the line being rewritten, 0 when none is open
        self._last: float | None = None

    def progress(self, label: str) -> Callable[[float, str], None]:
        def update(elapsed: float, status: str) -> None:
            text = f"{label}: {status} ({elapsed:.0f}s)"
            if self.tty:
                click.echo("\r" + text.ljust(self._width), nl=False, err=True)
                self._width = max(len(text), 1)
            elif self._last is None or elapsed - self._last >= self.every:
                click.echo(text, err=True)
                self._last = elapsed
        return update

    def retry(self, notice: RetryNotice) -> None:
        self.end_line()
        warn(f"{notice.reason} while {notice.action}; retry {notice.retry} of {notice.max_retries} "
             f"in {notice.delay:.0f}s")

    def end_line(self) -> None:
        if self._width:
            click.echo("", err=True)
            self._width = 0


def amplitude_command(command: Callable[..., None]) -> Callable[..., None]:
    """Adds the connection options; the command receives a ready client and the console,
    and every library error becomes a one-line message (exit 1)."""

    @functools.wraps(command)
    def wrapper(*, api_key: str | None, secret_key: str | None, region: str, amplitude_url: str | None,
                max_retries: int, backoff_base: float, **kwargs: Any) -> None:
        missing = [what for what, value in (("an API key (--api-key or AMPLITUDE_API_KEY)", api_key),
                                            ("a secret key (--secret-key or AMPLITUDE_SECRET_KEY)", secret_key))
                   if not value]
        if missing:
            fail(f"missing Amplitude credentials: give {' and '.join(missing)}; "
                 "both are in Amplitude under Settings → Projects → General")
        console = _Console()
        try:
            with AmplitudeClient(str(api_key), str(secret_key), region=region, base_url=amplitude_url,
                                 retry=RetryPolicy(max_retries=max_retries, base=backoff_base),
                                 on_retry=console.retry) as client:
                command(client, console, **kwargs)
        except AmplitudeError as exc:
            console.end_line()
            hint = (f" (Amplitude keeps export {exc.request_id} for 7 days: add --request-id {exc.request_id} "
                    "to fetch it without requesting a new one)") if exc.request_id else ""
            fail(f"{exc}{hint}")
        except PortalspecError as exc:
            console.end_line()
            fail(str(exc))

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


@main.group()
def cohorts() -> None:
    """Amplitude's cohorts, through its Behavioral Cohorts API: list them, download one as CSV,
    upload one from a file of ids.

    Credentials come from --api-key/--secret-key or AMPLITUDE_API_KEY/AMPLITUDE_SECRET_KEY.
    """


@cohorts.command("list")
@FORMAT
@amplitude_command
def list_cohorts(client: AmplitudeClient, console: _Console, fmt: str) -> None:
    """List the project's cohorts: id, size, last computed, name."""
    found = client.list_cohorts()
    if fmt == "json":
        click.echo(json.dumps([c.to_dict() for c in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no cohorts in this project")
        return
    rows = [("ID", "SIZE", "LAST COMPUTED", "NAME")] + [_row(c) for c in found]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo(f"{row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}  {row[2].ljust(widths[2])}  {row[3]}")


def _row(cohort: CohortInfo) -> tuple[str, str, str, str]:
    size = "" if cohort.size is None else str(cohort.size)
    when = cohort.last_computed.strftime("%Y-%m-%d %H:%M UTC") if cohort.last_computed else "-"
    return cohort.id, size, when, cohort.name + (" (archived)" if cohort.archived else "")


@cohorts.command()
@click.argument("cohort_id")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The CSV file to write (replaced only once the download is complete).")
@click.option("--props", is_flag=True, help="Include user properties, one column each.")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_EXPORT_TIMEOUT, show_default=True,
              help="Seconds to wait for Amplitude to prepare the export, every status request included.")
@click.option("--poll-interval", type=click.FloatRange(min=0), default=DEFAULT_POLL_INTERVAL, show_default=True,
              help="Seconds between the first status checks (later ones slow down to 30 s).")
@click.option("--request-id", help="Fetch an export requested earlier (valid 7 days) instead of requesting a new one.")
@amplitude_command
def download(client: AmplitudeClient, console: _Console, cohort_id: str, output: str, props: bool, timeout: float,
             poll_interval: float, request_id: str | None) -> None:
    """Download cohort COHORT_ID to a CSV file.

    The file has the header "amplitude_id","user_id" (plus one column per property with
    --props), as Amplitude writes it, uncompressed. Each new export counts toward the
    project's 500 downloads a month. A file that is not whole (a gzip stream cut short, a CSV
    without its last line, fewer than 90 % of the users Amplitude lists for the cohort) is
    refused and never replaces the output.
    """
    result = client.download(cohort_id, output, props=props, request_id=request_id, timeout=timeout,
                             poll_interval=poll_interval,
                             progress=console.progress(f"waiting for Amplitude to prepare cohort {cohort_id}"))
    console.end_line()
    click.echo(f"wrote {result.users} user{'' if result.users == 1 else 's'} to {result.path}")


@cohorts.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--name", required=True, help="The cohort's name in Amplitude.")
@click.option("--app-id", metavar="ID",
              help="The project's id; by default the one the cohort listing names (the existing cohort's).")
@click.option("--id-type", type=click.Choice(list(ID_TYPES)), default="user_id", show_default=True,
              help="What the ids are: user ids (BY_USER_ID) or Amplitude ids (BY_AMP_ID).")
@click.option("--existing-cohort-id", metavar="ID", help="Replace this cohort's members instead of creating one.")
@click.option("--owner", metavar="EMAIL", help="The login email of the cohort's owner in Amplitude.")
@click.option("--published/--unpublished", default=False, show_default=True,
              help="Whether the cohort is visible to the project's other users.")
@FORMAT
@amplitude_command
def upload(client: AmplitudeClient, console: _Console, file: str, name: str, app_id: str | None, id_type: str,
           existing_cohort_id: str | None, owner: str | None, published: bool, fmt: str) -> None:
    """Upload FILE's users as an Amplitude cohort (POST /api/3/cohorts/upload).

    FILE is any file `sync --cohort-file` reads: a cohort export CSV, JSON lines, one id per
    line. The ids are the column or field named by --id-type (a plain list's lines as they
    are); users without one are skipped and named. Every id is checked before anything is
    sent; at most 100,000 distinct ids (Amplitude's limit per upload).
    """
    ids = read_upload_ids(file, id_type)
    if ids.skipped:
        shown = ", ".join(ids.skipped[:5]) + (f" and {len(ids.skipped) - 5:,} more" if len(ids.skipped) > 5 else "")
        warn(f"{len(ids.skipped):,} user(s) in {file} have no {id_type} and are not uploaded: {shown}")
    result = client.upload(ids.ids, name=name, app_id=app_id, id_type=id_type, existing_cohort_id=existing_cohort_id,
                           owner=owner, published=published)
    if fmt == "json":
        click.echo(json.dumps({"cohort_id": result.cohort_id, "name": result.name, "id_type": result.id_type,
                               "ids": result.ids, "replaced": result.replaced, "skipped": len(ids.skipped),
                               "repeated": ids.repeated}, indent=2, ensure_ascii=False))
        return
    what = f"replaced the members of cohort {result.cohort_id}" if result.replaced else \
        f"created cohort {result.cohort_id}"
    repeats = f" ({ids.repeated:,} repeated id(s) sent once)" if ids.repeated else ""
    click.echo(f"{what} ({result.name!r}) with {result.ids:,} id{'' if result.ids == 1 else 's'} ({id_type}){repeats}")

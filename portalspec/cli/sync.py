"""The ``sync`` command: deliver a cohort's changes to the destination a definition describes."""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import click

from ..amplitude import DEFAULT_EXPORT_TIMEOUT, DEFAULT_POLL_INTERVAL, AmplitudeClient
from ..diagnostics import InputError, PortalspecError
from ..inputs import load_values
from ..integration import compile as compile_definition
from ..model import Definition
from ..retry import RetryPolicy
from ..sync import DEFAULT_STATE, Progress, State, SyncOptions, SyncReport, sync
from ..sync.sources import read_membership
from ..transport import Transport
from ..values import Cohort, Values
from .base import BASE_URL, FORMAT, fail, load_or_exit, main, warn


class _ProgressDisplay:
    """A progress bar on a terminal; otherwise a plain line at most every few seconds."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        done = p.requests_done == p.requests_total
        if not self.tty and not done and now - self.last < 5:
            return
        self.last = now
        rate = p.users_done / max(now - self.started, 1e-9)
        width = 30
        filled = int(width * p.requests_done / max(p.requests_total, 1))
        bar = "#" * filled + "-" * (width - filled)
        line = (f"[{bar}] {p.requests_done}/{p.requests_total} requests, {p.users_done:,}/{p.users_total:,} users, "
                f"{rate:,.0f} users/s" + (f", {p.retries} retries" if p.retries else "")
                + (f", {p.failed_requests} failed" if p.failed_requests else ""))
        click.echo(("\r" + line + ("\n" if done else "")) if self.tty else line, err=True, nl=not self.tty)


def _text(report: SyncReport, name: str) -> str:
    lines = [f"{name}: cohort {report.cohort_id}"
             + (f", list {report.list_id}" if report.list_id is not None else "")
             + (" (created)" if report.created_list else "")]
    if report.outcome == "dry-run":
        lines.append(f"  plan: {report.entering:,} entering, {report.leaving:,} leaving")
        for endpoint, plan in report.plan:
            lines.append(f"    {endpoint:<13} {plan.requests:>6,} requests {plan.users:>10,} users {plan.bytes:>14,} bytes")
        if not report.plan:
            lines.append("    nothing to send")
        lines.extend(f"  warning: {error}" for error in report.errors)
        return "\n".join(lines)
    failed = f" ({report.requests_failed:,} failed)" if report.requests_failed else ""
    lines.append(f"  {report.entering:,} entering, {report.leaving:,} leaving: {report.requests:,} requests{failed}, "
                 f"{report.delivered:,} users delivered, {report.retries:,} retries")
    for error in report.errors[:10]:
        lines.append(f"  error: {error}")
    lines.extend(f"  warning: {warning}" for warning in report.warnings)
    if report.undelivered:
        lines.append(f"  {report.undelivered:,} users not delivered; the next run sends them")
    lines.append(f"  {report.outcome}")
    return "\n".join(lines)


def _pull(definition: Definition, values: Values, cohort_id: str, api_key: str | None, secret_key: str | None,
          region: str, base_url: str | None, directory: str, timeout: float,
          poll_interval: float) -> tuple[str, Values]:
    """Download the cohort from Amplitude to a temporary file; fill the cohort's name from
    Amplitude when the values file does not give it."""
    if not api_key or not secret_key:
        fail("--amplitude-cohort needs Amplitude credentials: --amplitude-api-key and --amplitude-secret-key "
             "(or AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY)")
    if values.cohort is not None and values.cohort.id != cohort_id:
        fail(f"--amplitude-cohort {cohort_id} but the values file's cohort is {values.cohort.id}")
    # Properties other than the two ids come only with props=1.
    props = any(p not in ("user_id", "amplitude_id") for p in values.mappings.values())
    target = Path(directory) / f"cohort-{cohort_id}.csv"
    with AmplitudeClient(api_key, secret_key, region=region, base_url=base_url) as client:
        if values.cohort is None:
            info = next((c for c in client.list_cohorts() if c.id == cohort_id), None)
            if info is None:
                fail(f"Amplitude has no cohort {cohort_id} in this project ('portalspec cohorts list' shows them)")
            values = dataclasses.replace(values, cohort=Cohort(info.id, info.name, ""))
        result = client.download(cohort_id, target, props=props, timeout=timeout, poll_interval=poll_interval,
                                 progress=lambda elapsed, status: click.echo(
            f"waiting for Amplitude to prepare cohort {cohort_id}: {status} ({elapsed:.0f}s)", err=True))
    click.echo(f"pulled {result.users:,} users of cohort {cohort_id} from Amplitude", err=True)
    return str(target), values


@main.command(name="sync")
@click.argument("definition", type=click.Path(path_type=str))
@click.option("--values", "values_file", required=True, type=click.Path(path_type=str),
              help="Values file: fields, mappings and the cohort.")
@click.option("--cohort-file", type=click.Path(path_type=str),
              help="The cohort's members: an Amplitude export CSV (gzip ok), JSON lines, or one id per line.")
@click.option("--amplitude-cohort", metavar="ID", help="Pull the cohort's members from Amplitude instead.")
@click.option("--amplitude-api-key", envvar="AMPLITUDE_API_KEY", show_envvar=True, metavar="KEY",
              help="With --amplitude-cohort: the Amplitude project's API key.")
@click.option("--amplitude-secret-key", envvar="AMPLITUDE_SECRET_KEY", show_envvar=True, metavar="KEY",
              help="With --amplitude-cohort: the project's secret key.")
@click.option("--amplitude-region", type=click.Choice(["us", "eu"]), default="us", show_default=True)
@click.option("--amplitude-url", metavar="URL", help="Another Amplitude base URL (a proxy, a local fake).")
@click.option("--amplitude-timeout", type=click.FloatRange(0), default=DEFAULT_EXPORT_TIMEOUT, show_default=True,
              help="Seconds to wait for Amplitude to prepare the export.")
@click.option("--amplitude-poll-interval", type=click.FloatRange(0), default=DEFAULT_POLL_INTERVAL,
              show_default=True, help="Seconds between checks on the export (it widens as the wait grows).")
@click.option("--state", "state_file", type=click.Path(path_type=str), default=str(DEFAULT_STATE), show_default=True,
              help="SQLite file of list ids, delivered memberships and run history.")
@click.option("--dry-run", is_flag=True, help="Show the plan (requests, users, bytes per endpoint); send nothing.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--max-retries", type=click.IntRange(0, 100), default=8, show_default=True)
@click.option("--backoff-base", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Seconds before the first retry; doubles each retry, capped near 2 minutes.")
@click.option("--timeout", type=click.FloatRange(0.1), default=30.0, show_default=True,
              help="Seconds for each request, its whole answer included.")
@click.option("--max-retry-after", type=click.FloatRange(0), default=300.0, show_default=True,
              help="The longest Retry-After waited out; a batch asked to wait longer stays owed to the next run.")
@click.option("--deadline", type=click.FloatRange(0, min_open=True), default=None,
              help="Seconds for the whole run; what is not delivered by then is owed to the next run.")
@click.option("--max-removal-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Refuse a run that would remove more than this share of the users last delivered.")
@click.option("--removal-guard-min", type=click.IntRange(0), default=1000, show_default=True,
              help="The removal guard applies once the last delivered membership has this many users.")
@click.option("--allow-large-removal", is_flag=True, help="Go ahead even when the removal guard would refuse.")
@BASE_URL
@FORMAT
def sync_command(definition: str, values_file: str, cohort_file: str | None, amplitude_cohort: str | None,
                 amplitude_api_key: str | None, amplitude_secret_key: str | None, amplitude_region: str,
                 amplitude_url: str | None, amplitude_timeout: float, amplitude_poll_interval: float, state_file: str, dry_run: bool, concurrency: int, max_retries: int,
                 backoff_base: float, timeout: float, max_retry_after: float, deadline: float | None,
                 max_removal_share: float, removal_guard_min: int, allow_large_removal: bool,
                 base_url: str | None, fmt: str) -> None:
    """Sync a cohort: create the list once, then send who entered and who left since the last run.

    Exit 0 when everything was delivered (or nothing changed), 1 when some users are still
    owed — they are sent by the next run; none is ever skipped.
    """
    integration = compile_definition(load_or_exit(definition))
    if bool(cohort_file) == bool(amplitude_cohort):
        fail("give the cohort's members with either --cohort-file or --amplitude-cohort")
    options = SyncOptions(concurrency=concurrency, dry_run=dry_run,
                          retry=RetryPolicy(max_retries=max_retries, base=backoff_base, max_retry_after=max_retry_after),
                          max_removal_share=max_removal_share, removal_guard_min=removal_guard_min,
                          allow_large_removal=allow_large_removal, deadline=deadline)
    report: SyncReport | None = None
    try:
        values = load_values(values_file, integration.definition)
        with tempfile.TemporaryDirectory(prefix="portalspec-") as pulled, State(state_file, readonly=dry_run) as state, \
                Transport(timeout=timeout, base_url=base_url) as transport:
            if amplitude_cohort:
                cohort_file, values = _pull(integration.definition, values, amplitude_cohort, amplitude_api_key,
                                            amplitude_secret_key, amplitude_region, amplitude_url, pulled,
                                            amplitude_timeout, amplitude_poll_interval)
            assert cohort_file is not None
            members = read_membership(cohort_file, integration.definition, values)
            report = sync(integration, values, members, state=state, transport=transport, options=options,
                          progress=_ProgressDisplay(fmt == "text"))
    except PortalspecError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted: what was delivered is recorded; the next run sends the rest")
    if members.skipped_count:
        warn(f"{members.skipped_count} user(s) in the cohort have no value for a mapped property and cannot be "
             "sent: " + ", ".join(members.skipped) + (", …" if members.skipped_count > len(members.skipped) else ""))
    click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if fmt == "json"
               else _text(report, integration.name))
    sys.exit(0 if report.ok else 1)

"""The ``sync`` command: deliver a cohort's changes to the destination a definition describes."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from ..compiler import compile as compile_definition
from ..diagnostics import InputError
from ..inputs import load_values
from ..retry import RetryPolicy
from ..sync import DEFAULT_STATE, Progress, State, SyncOptions, SyncReport, sync
from ..sync.sources import read_membership
from ..transport import Transport
from .base import FORMAT, fail, load_or_exit, main, warn


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
        return "\n".join(lines)
    lines.append(f"  {report.entering:,} entering, {report.leaving:,} leaving: {report.requests:,} requests, "
                 f"{report.delivered:,} users delivered, {report.retries:,} retries")
    for error in report.errors[:10]:
        lines.append(f"  error: {error}")
    if report.undelivered:
        lines.append(f"  {report.undelivered:,} users not delivered; the next run sends them")
    lines.append(f"  {report.outcome}")
    return "\n".join(lines)


@main.command(name="sync")
@click.argument("definition", type=click.Path(path_type=str))
@click.option("--values", "values_file", required=True, type=click.Path(path_type=str),
              help="Values file: fields, mappings and the cohort.")
@click.option("--cohort-file", type=click.Path(path_type=str),
              help="The cohort's members: an Amplitude export CSV (gzip ok), JSON lines, or one id per line.")
@click.option("--state", "state_file", type=click.Path(path_type=str), default=str(DEFAULT_STATE), show_default=True,
              help="SQLite file of list ids, delivered memberships and run history.")
@click.option("--dry-run", is_flag=True, help="Show the plan (requests, users, bytes per endpoint); send nothing.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--max-retries", type=click.IntRange(0, 100), default=8, show_default=True)
@click.option("--backoff-base", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Seconds before the first retry; doubles each retry, capped near 2 minutes.")
@click.option("--timeout", type=click.FloatRange(0.1), default=30.0, show_default=True, help="Seconds per request.")
@click.option("--base-url", help="Replace every endpoint's scheme and host (staging, or portalspec serve).")
@FORMAT
def sync_command(definition: str, values_file: str, cohort_file: str | None, state_file: str, dry_run: bool,
                 concurrency: int, max_retries: int, backoff_base: float, timeout: float, base_url: str | None,
                 fmt: str) -> None:
    """Sync a cohort: create the list once, then send who entered and who left since the last run.

    Exit 0 when everything was delivered (or nothing changed), 1 when some users are still
    owed — they are sent by the next run; none is ever skipped.
    """
    integration = compile_definition(load_or_exit(definition))
    if not cohort_file:
        fail("give the cohort's members with --cohort-file")
    options = SyncOptions(concurrency=concurrency, retry=RetryPolicy(max_retries=max_retries, base=backoff_base),
                          dry_run=dry_run)
    report: SyncReport | None = None
    try:
        values = load_values(values_file)
        members = read_membership(cohort_file, integration.definition, values)
        with State(state_file) as state, Transport(timeout=timeout, base_url=base_url) as transport:
            report = sync(integration, values, members, state=state, transport=transport, options=options,
                          progress=_ProgressDisplay(fmt == "text"))
    except InputError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted: what was delivered is recorded; the next run sends the rest")
    if members.skipped_count:
        warn(f"{members.skipped_count} user(s) in the cohort have no value for a mapped property and cannot be "
             "sent: " + ", ".join(members.skipped) + (", …" if members.skipped_count > len(members.skipped) else ""))
    click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if fmt == "json"
               else _text(report, integration.name))
    sys.exit(0 if report.ok else 1)

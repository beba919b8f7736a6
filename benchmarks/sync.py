"""Sync benchmark: the membership diff and state storage at cohort scale, and (with
``--e2e-users``) a real sync to ``portalspec serve`` on loopback.

    python3 benchmarks/sync.py [--ids 2000000] [--e2e-users 1000000]   (--e2e-users 0 skips it)

Prints, measured in the same run: the diff of two 2,000,000-id memberships differing by 5 %
against a plain Python set difference (target: at most 1.5x its time) with peak memory of
each; seconds to persist a 2M-id snapshot to SQLite; end to end, users and requests per
second with concurrency 4, and again with 10 % injected 500s (all delivered, retries counted).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import portalspec
from portalspec.retry import RetryPolicy
from portalspec.sync import State, SyncOptions, difference, sync
from portalspec.testing import running_destination
from portalspec.transport import Transport

EXAMPLE = Path(__file__).resolve().parents[1] / "integrations" / "infobip"


def timed(fn: Callable[[], Any], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    top = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return top


def bench_diff(n: int) -> bool:
    current = [f"user-{i:08d}@example.com" for i in range(n)]
    changed = n // 20
    held = set(current[changed:] + [f"gone-{i:08d}@example.com" for i in range(changed)])

    def baseline() -> tuple[set[str], set[str]]:
        now = set(current)
        return now - held, held - now

    t_base, t_ours = timed(baseline), timed(lambda: difference(current, held))
    m_base, m_ours = peak(baseline), peak(lambda: difference(current, held))
    diff = difference(current, held)
    assert len(diff.entering) == changed and len(diff.leaving) == changed
    ratio = t_ours / t_base
    print(f"diff of two {n:,}-id memberships, 5 % changed ({changed:,} entering, {changed:,} leaving)")
    print(f"  set difference (both ways)   {t_base:7.3f} s   peak {m_base / 2**20:7.1f} MiB")
    print(f"  portalspec difference()      {t_ours:7.3f} s   peak {m_ours / 2**20:7.1f} MiB"
          "   (ordered, de-duplicated, sorted leaving)")
    print(f"  ratio: {ratio:4.2f}x the set difference's time (target <= 1.5x)")
    with tempfile.TemporaryDirectory() as tmp:
        state = State(Path(tmp) / "state.db")
        record = state.sync_for("bench", {}, "1")
        start = time.perf_counter()
        state.replace_members(record.id, current)
        persist = time.perf_counter() - start
        start = time.perf_counter()
        loaded = state.members(record.id)
        load = time.perf_counter() - start
        assert len(loaded) == n
        state.close()
    print(f"  persist a {n:,}-id snapshot: {persist:6.2f} s (one transaction); load it back: {load:6.2f} s")
    return ratio <= 1.5


def bench_e2e(n: int) -> bool:
    """Sync ``n`` users to ``portalspec serve`` (in-process, loopback), clean and with 10 % 500s."""
    definition, values_file = EXAMPLE / "integration.yaml", EXAMPLE / "values.yaml"
    integration = portalspec.compile(portalspec.load(definition))
    values = portalspec.load_values(values_file)
    ids = [f"user-{i:08d}@example.com" for i in range(n)]
    print(f"\nsync {n:,} users to portalspec serve on loopback, batch 10,000, concurrency 4")
    ok = True
    for label, faults in (("no faults", {}), ("10 % injected 500s", {"fail_rate": 0.1, "fail_status": 500, "seed": 7})):
        with running_destination(definition, values_file, **faults) as dest, tempfile.TemporaryDirectory() as tmp, \
                State(Path(tmp) / "state.db") as state, Transport(base_url=dest.url) as transport:
            # A short backoff so the figure measures delivery, not waiting (the default is 1 s).
            options = SyncOptions(concurrency=4, retry=RetryPolicy(base=0.05))
            start = time.perf_counter()
            report = sync(integration, values, ids, state=state, transport=transport, options=options)
            seconds = time.perf_counter() - start
            held = dest.state()["lists"][0]["size"]
        delivered = report.outcome == "succeeded" and held == n
        ok &= delivered
        print(f"  {label:<20} {seconds:6.2f} s  {n / seconds:>9,.0f} users/s  {report.requests / seconds:6.1f} requests/s"
              f"  requests {report.requests}, retries {report.retries}, destination holds {held:,}"
              + ("" if delivered else "  NOT ALL DELIVERED"))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=2_000_000)
    parser.add_argument("--e2e-users", type=int, default=1_000_000, help="0 skips the end-to-end sync")
    args = parser.parse_args()
    ok = bench_diff(args.ids)
    if args.e2e_users:
        ok &= bench_e2e(args.e2e_users)
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

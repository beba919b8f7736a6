"""Sync benchmark: the membership diff, a whole sync with its state at cohort scale, and
(with ``--e2e-users``) a real sync to ``portalspec serve`` on loopback. Ids are realistic
(benchmarks/data.py): shuffled, half email-like, half UUID-like.

    python3 benchmarks/sync.py [--ids 2000000] [--sync-users 1000000] [--rounds 3]
                               [--rss-users 2000000] [--e2e-users 1000000]   (0 skips a part)

Prints, measured in the same run: the diff of two 2,000,000-id memberships differing by 5 %
against a plain Python set difference (target: at most 1.5x its time) with peak memory of
each; a first sync of 1M users with shuffled ids against the same ids sorted, each in a child
process, alternated (target: shuffled within 1.3x of sorted; >= 400k users/s), to a trivial
receiver (httpx.MockTransport reading and discarding each body), with the bytes the run wrote
(/proc/self/io write_bytes) and the state file's size, then a later run in which 5 % left and as
many entered; the peak RSS of a 2M-user sync, and
of the same child holding only the ids; end to end, users and requests per second with
concurrency 4, and again with 10 % injected 500s (all delivered, retries counted).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402  (benchmarks/data.py: realistic ids)

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
    both = data.ids(n + n // 20)
    changed = n // 20
    current = both[:n]
    held = set(current[changed:] + both[n:])

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
        state.replace_members(record.id, ((k, json.dumps(k)) for k in current))
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
    ids = data.ids(n)
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


def _io_written() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes"))


def child(order: str, n: int, later_run: bool) -> None:
    """One first sync of ``n`` users (ids ``order``: shuffled or sorted) with its state, to a
    receiver that reads and discards bodies; prints seconds, bytes written, sizes, RSS; with
    ``later_run``, then times a run in which 5 % of them left and as many entered."""
    import httpx

    every = data.ids(n + n // 20 if later_run else n)
    ids, later = (every[:n], every[n // 20:]) if later_run else (every, [])
    if order == "sorted":
        ids.sort()
        later.sort()
    del every
    integration = portalspec.compile(portalspec.load(EXAMPLE / "integration.yaml"))
    values = portalspec.load_values(EXAMPLE / "values.yaml")

    def receiver(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(200, json={"listId": 1} if request.url.path.endswith("/lists") else {"ok": True})

    rss_ids = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp:
        written = _io_written()
        start = time.perf_counter()
        with State(Path(tmp) / "state.db") as state, \
                Transport(client=httpx.Client(transport=httpx.MockTransport(receiver))) as transport:
            report = sync(integration, values, ids, state=state, transport=transport, options=SyncOptions())
            seconds = time.perf_counter() - start
            written = _io_written() - written
            size = sum(f.stat().st_size for f in Path(tmp).iterdir())
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.perf_counter()
            if later_run:
                again = sync(integration, values, later, state=state, transport=transport, options=SyncOptions())
                assert again.outcome == "succeeded" and again.entering == again.leaving == n // 20, again
            later_seconds = time.perf_counter() - start
    assert report.outcome == "succeeded" and report.delivered == n, report
    print(json.dumps({"seconds": seconds, "written": written, "size": size, "rss_ids": rss_ids * 1024,
                      "rss": rss * 1024, "later": later_seconds,
                      "rss_later": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def run_child(order: str, n: int, later_run: bool = True) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", order, str(n), "later" if later_run else "first"],
                         check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONHASHSEED": "0"}).stdout
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def bench_sync(n: int, rounds: int) -> bool:
    results: dict[str, list[dict[str, float]]] = {"sorted": [], "shuffled": []}
    for _ in range(rounds):  # alternated: the same machine load for both
        for order in results:
            results[order].append(run_child(order, n))
    med = {order: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for order, runs in results.items()}
    print(f"\nfirst sync of {n:,} users with its state, to httpx.MockTransport (reads, discards), "
          f"batch 10,000, concurrency 4; medians of {rounds}, alternated")
    for order, m in med.items():
        print(f"  ids {order:<9} {m['seconds']:6.2f} s  {n / m['seconds']:>9,.0f} users/s  written "
              f"{m['written'] / 1e6:6.0f} MB ({m['written'] / n:4.0f} B/user)  state file + WAL "
              f"{m['size'] / 1e6:5.0f} MB  peak RSS {m['rss'] / 2**20:4.0f} MiB")
    for order, m in med.items():
        print(f"  a later run, ids {order:<9} {n // 20:,} left and {n // 20:,} entered: {m['later']:5.2f} s, "
              f"peak RSS {m['rss_later'] / 2**20:4.0f} MiB")
    ratio = med["shuffled"]["seconds"] / med["sorted"]["seconds"]
    rate = n / med["shuffled"]["seconds"]
    print(f"  shuffled / sorted: {ratio:4.2f}x (target <= 1.3x); {rate:,.0f} users/s (target >= 400,000)")
    return ratio <= 1.3 and rate >= 400_000


def bench_rss(n: int) -> None:
    m = run_child("shuffled", n, later_run=False)
    print(f"\npeak RSS of a first sync of {n:,} users: {m['rss'] / 2**20:.0f} MiB "
          f"(the ids alone, before the sync: {m['rss_ids'] / 2**20:.0f} MiB)")


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "later")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=2_000_000)
    parser.add_argument("--sync-users", type=int, default=1_000_000, help="0 skips the sync with state")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss-users", type=int, default=2_000_000, help="0 skips the peak RSS")
    parser.add_argument("--e2e-users", type=int, default=1_000_000, help="0 skips the end-to-end sync")
    args = parser.parse_args()
    data.compile_package()
    # The children's peak RSS first, while this process is small: a child's ru_maxrss starts
    # from its parent's high-water mark (fork, then exec, folds it in), so after the diff
    # below it would report this process's size instead of its own.
    ok = True
    if args.sync_users:
        ok &= bench_sync(args.sync_users, args.rounds)
    if args.rss_users:
        bench_rss(args.rss_users)
    if args.ids:
        ok &= bench_diff(args.ids)
    if args.e2e_users:
        ok &= bench_e2e(args.e2e_users)
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

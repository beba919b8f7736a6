"""Render benchmark: 1,000,000 users through portalspec, against two baselines measured in the
same run, and the peak memory of streaming 2,000,000 users.

    python3 benchmarks/render.py [--users N]

Cases (batch 10,000):
- property: a Segment-style batch identify item template, against building the same bodies as
  Python dicts + json.dumps (target: at least 5x faster) and a per-item Jinja2 template
  (target: at least 30x faster);
- list: the ``"$user_id_field_amplitude"`` item template, against json.dumps of each batch's id
  list (target: no slower than 1.25x).
Prints items per second and the ratios; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Iterator

import jinja2
import jinja2.sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402  (benchmarks/data.py: realistic ids)

import portalspec  # noqa: E402
from portalspec import MacroContext, Members, User, Values

BATCH = 10_000
TRAIT = "[Amplitude] Beta users: 1234"
CONTEXT = {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}

PROPERTY = """
portalspec: 1
name: bench-property
display_name: Bench property
type: property
auth: {method: bearer}
mapping_fields:
  - {variable: user_id_field_amplitude, mapping_display_name: User ID Mapping, display_name: User ID}
endpoints:
  update_users:
    method: POST
    url: https://api.example.test/v1/batch
    payload: '{"batch": $items}'
    item_template: '{"type": "identify", "userId": "$user_id_field_amplitude", "traits": {"[Amplitude] $amp_cohort_name: $amp_cohort_id": $amp_in_cohort}, "context": {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}}'
    batch_size: 10000
"""

LIST = """
portalspec: 1
name: bench-list
display_name: Bench list
type: list
auth: {method: bearer}
mapping_fields:
  - {variable: user_id_field_amplitude, mapping_display_name: User ID Mapping, display_name: User ID}
endpoints:
  create_list:
    method: POST
    url: https://api.example.test/lists
    payload: '{"name": "$amp_cohort_name"}'
    list_id: {path: id}
  add_users:
    method: POST
    url: https://api.example.test/lists/$list_id/add
    payload: '{"userIds": $items}'
    item_template: '"$user_id_field_amplitude"'
  remove_users:
    method: POST
    url: https://api.example.test/lists/$list_id/remove
    payload: '{"userIds": $items}'
    item_template: '"$user_id_field_amplitude"'
"""

VALUES = Values(fields={"bearer_token": "t"}, mappings={"user_id_field_amplitude": "user_id"},
                cohort=portalspec.Cohort("1234", "Beta users"), list_id="L1")


def ids(n: int) -> list[str]:
    """Realistic ids (benchmarks/data.py): shuffled, half email-like, half UUID-like."""
    return data.ids(n)


def members_of(id_list: list[str]) -> list[Members]:
    """The cohort column-wise, as an export or a sync diff hands it over (no copy of the ids)."""
    return [Members("add", {"user_id_field_amplitude": id_list})]


def users_of(id_list: list[str]) -> list[User]:
    return [User("add", {"user_id_field_amplitude": u}) for u in id_list]


def stream_users(id_list: list[str]) -> Iterator[User]:
    for user_id in id_list:
        yield User("add", {"user_id_field_amplitude": user_id})


def best_of(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    best, out = float("inf"), 0
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def render_all(integration: portalspec.Integration, users: list) -> int:
    total = 0
    for request in integration.render(VALUES, users, endpoint=None, context=MacroContext(seed=1)):
        if request.items:
            total += len(request.body or b"")
    return total


def batches(id_list: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(id_list), BATCH):
        yield id_list[i:i + BATCH]


def dicts_property(id_list: list[str]) -> int:
    total = 0
    for batch in batches(id_list):
        body = json.dumps({"batch": [{"type": "identify", "userId": u, "traits": {TRAIT: True}, "context": CONTEXT}
                                     for u in batch]})
        total += len(body.encode("utf-8"))
    return total


def dumps_list(id_list: list[str]) -> int:
    total = 0
    for batch in batches(id_list):
        total += len(json.dumps(batch).encode("utf-8"))
    return total


def jinja_property(id_list: list[str]) -> int:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["json"] = json.dumps
    item = env.from_string('{"type": "identify", "userId": {{ uid | json }}, "traits": {{ "{" }}{{ trait | json }}: '
                           '{{ flag | json }}{{ "}" }}, "context": {"integration": {"name": "Amplitude Cohort Sync", '
                           '"version": "1.0.0"}}}')
    total = 0
    for batch in batches(id_list):
        body = '{"batch": [' + ",".join(item.render(uid=u, trait=TRAIT, flag=True) for u in batch) + "]}"
        total += len(body.encode("utf-8"))
    return total


def peak_memory(integration: portalspec.Integration, n: int) -> tuple[int, int]:
    """Peak traced bytes while streaming ``n`` generated users, and one batch body's size."""
    id_list = ids(n)  # made before tracing: the users are streamed, the ids were there already
    gc.collect()
    tracemalloc.start()
    biggest = 0
    for request in integration.render(VALUES, stream_users(id_list), context=MacroContext(seed=1)):
        biggest = max(biggest, len(request.body or b""))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, biggest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--jinja-users", type=int, default=200_000,
                        help="users for the (slow) per-item Jinja2 baseline; its rate is compared")
    parser.add_argument("--memory-users", type=int, default=2_000_000)
    args = parser.parse_args()

    prop = portalspec.compile(portalspec.load(PROPERTY))
    lst = portalspec.compile(portalspec.load(LIST))
    id_list = ids(args.users)
    users = members_of(id_list)
    user_objects = users_of(id_list)
    n = args.users
    ok = True

    def report(label: str, seconds: float, items: int) -> float:
        rate = items / seconds
        print(f"  {label:<38} {seconds:8.3f} s  {rate / 1e6:7.2f} M items/s")
        return rate

    print(f"property-based (Segment identify), {n:,} users, batch {BATCH:,}")
    t_ours, size_ours = best_of(3, lambda: render_all(prop, users))
    t_dicts, size_dicts = best_of(3, lambda: dicts_property(id_list))
    jn = min(args.jinja_users, n)
    t_jinja, _ = best_of(1, lambda: jinja_property(id_list[:jn]))
    t_objects, _ = best_of(1, lambda: render_all(prop, user_objects))
    r_ours = report("portalspec (Members columns)", t_ours, n)
    report("portalspec (one User object each)", t_objects, n)
    r_dicts = report("dicts + json.dumps", t_dicts, n)
    r_jinja = report(f"per-item Jinja2 ({jn:,} users)", t_jinja, jn)
    speedup_dicts, speedup_jinja = r_ours / r_dicts, r_ours / r_jinja
    print(f"  ratio vs dicts + json.dumps: {speedup_dicts:5.1f}x faster (target >= 5x)")
    print(f"  ratio vs per-item Jinja2:    {speedup_jinja:5.1f}x faster (target >= 30x)")
    print(f"  body bytes: portalspec {size_ours:,}, dicts {size_dicts:,}")
    ok &= speedup_dicts >= 5 and speedup_jinja >= 30

    print(f"\nlist-based (\"$user_id_field_amplitude\"), {n:,} users, batch {BATCH:,}")
    t_list, _ = best_of(3, lambda: render_all(lst, users))
    t_dumps, _ = best_of(3, lambda: dumps_list(id_list))
    t_list_objects, _ = best_of(1, lambda: render_all(lst, user_objects))
    report("portalspec (Members columns)", t_list, n)
    report("portalspec (one User object each)", t_list_objects, n)
    report("json.dumps(id list)", t_dumps, n)
    slowdown = t_list / t_dumps
    print(f"  ratio vs json.dumps of the id list: {slowdown:4.2f}x the time (target <= 1.25x)")
    ok &= slowdown <= 1.25

    del users, user_objects, id_list
    m = args.memory_users
    peak, batch_bytes = peak_memory(prop, m)
    print(f"\nstreaming {m:,} generated users (property-based): peak {peak / 2**20:6.1f} MiB traced, "
          f"one batch body {batch_bytes / 2**20:5.2f} MiB -> peak = {peak / batch_bytes:4.1f} batch bodies")
    ok &= peak <= 8 * batch_bytes
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

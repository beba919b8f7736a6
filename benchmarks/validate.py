"""Validation cost is linear in the size of the definition: 1 MiB definitions of three shapes.

    python3 benchmarks/validate.py

For each shape (tens of thousands of headers; thousands of custom fields; one huge payload)
it prints the time of ``portalspec.validate`` on a definition just under the 1 MiB limit, the
time of a bare ``yaml.safe_load`` of the same text measured in the same run, their ratio, and
the time at half the size (linear: about half). Target: under 2 s for 1 MiB.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import portalspec  # noqa: E402
from portalspec.loader import MAX_FILE_BYTES  # noqa: E402

HEAD = """portalspec: 1
name: big
display_name: Big
type: list
auth: {method: bearer}
mapping_fields:
  - {variable: user_id, mapping_display_name: User ID Mapping, display_name: User ID}
"""
ENDPOINTS = """endpoints:
  create_list:
    method: POST
    url: https://api.big.example/lists
    payload: '{PAYLOAD}'
    list_id: {path: id}
    example_response: {"id": 1}
  add_users:
    method: POST
    url: https://api.big.example/lists/$list_id/add
    payload: '{"ids": $items}'
    item_template: '"$user_id"'
  remove_users:
    method: POST
    url: https://api.big.example/lists/$list_id/remove
    payload: '{"ids": $items}'
    item_template: '"$user_id"'
"""


def headers(n: int) -> str:
    lines = [f"  X-Header-{i:06d}: value {i} for $amp_cohort_id" for i in range(n)]
    return HEAD + "headers:\n" + "\n".join(lines) + "\n" + ENDPOINTS.replace("{PAYLOAD}", '{"name": "x"}')


def fields(n: int) -> str:
    declared = [f"  - {{variable: field_{i:05d}, display_name: Field {i}, type: string, default: d{i}}}" for i in range(n)]
    used = ", ".join(f'"f{i}": "$field_{i:05d}"' for i in range(n))
    return HEAD + "custom_fields:\n" + "\n".join(declared) + "\n" + ENDPOINTS.replace("{PAYLOAD}", "{" + used + "}")


def payload(n: int) -> str:
    members = ", ".join(f'"key{i}": "$amp_cohort_name {i}"' for i in range(n))
    return HEAD + ENDPOINTS.replace("{PAYLOAD}", "{" + members + "}")


def sized(make: Callable[[int], str], limit: int) -> str:
    """The largest text ``make`` writes under ``limit`` bytes."""
    low, high = 1, 1
    while len(make(high).encode()) < limit:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if len(make(mid).encode()) < limit else (low, mid)
    return make(low)


def best(work: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ok = True
    for name, make in (("headers", headers), ("custom fields", fields), ("one payload", payload)):
        text = sized(make, MAX_FILE_BYTES - 1024)
        half = sized(make, (MAX_FILE_BYTES - 1024) // 2)
        found = portalspec.validate(text)
        assert not any(d.is_error for d in found), found[:3]
        ours = best(lambda: portalspec.validate(text))
        baseline = best(lambda: yaml.safe_load(text))
        at_half = best(lambda: portalspec.validate(half))
        ok &= ours < 2.0
        print(f"{name:14} {len(text.encode()):>9,} bytes: validate {ours:5.2f} s; yaml.safe_load {baseline:5.2f} s; "
              f"ratio {ours / baseline:4.2f}x; half the size {at_half:5.2f} s ({ours / at_half:3.1f}x for 2x)")
    print("target: under 2 s for a 1 MiB definition:", "met" if ok else "NOT met")
    ok &= render_headers()
    return 0 if ok else 1


def render_headers() -> bool:
    """Rendering one request is linear in its headers (it was quadratic: 10,000 headers took
    7.3 s a request). Compares 10,000 headers with 1,000, in the same run."""
    values = portalspec.Values({"bearer_token": "t"}, {"user_id": "user_id"}, portalspec.Cohort("1", "c"))

    def seconds(n: int) -> float:
        integration = portalspec.compile(portalspec.load(headers(n)))
        return best(lambda: next(integration.render(values, [])))

    small, large = seconds(1_000), seconds(10_000)
    ratio = large / small
    print(f"render one request: 1,000 headers {small * 1000:6.1f} ms; 10,000 headers {large * 1000:6.1f} ms "
          f"({ratio:4.1f}x for 10x; linear is ~10x, quadratic ~100x)")
    return ratio < 25


if __name__ == "__main__":
    raise SystemExit(main())

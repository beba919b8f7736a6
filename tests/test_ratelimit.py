"""Rate limits: token buckets per endpoint, one shared by the endpoints without their own, and
a sync that holds to them."""

from __future__ import annotations

import httpx

import portalspec
from portalspec.model import RateLimit
from portalspec.ratelimit import RateLimits, TokenBucket
from portalspec.retry import RetryPolicy
from portalspec.sync import State, SyncOptions, sync
from portalspec.transport import Transport

from .conftest import MINIMAL, FakeTime as Clock, edit


def test_a_bucket_lets_a_burst_through_then_spaces_requests_at_its_rate():
    clock = Clock()
    bucket = TokenBucket(RateLimit(3, 1.0), clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]  # the burst
    assert round(bucket.take(), 6) == round(1 / 3, 6)  # then one every 1/3 s
    clock.now += 10  # refilled, but never beyond its capacity
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0] and bucket.take() > 0


def test_endpoints_without_their_own_limit_share_the_top_level_one():
    text = edit(MINIMAL, "mapping_fields:", "rate_limit: {requests: 2, per_seconds: 10}\nmapping_fields:")
    text = edit(text, "    url: https://api.acme.example/lists/$list_id/remove\n",
                "    url: https://api.acme.example/lists/$list_id/remove\n    rate_limit: {requests: 100, per_seconds: 1}\n")
    limits = RateLimits(portalspec.load(text), Clock())
    assert limits.take("create_list") == 0 and limits.take("add_users") == 0
    assert limits.take("add_users") > 0  # the shared bucket of two is empty
    assert limits.take("remove_users") == 0  # its own bucket
    assert RateLimits(portalspec.load(MINIMAL), Clock()).take("add_users") == 0  # no limit


def test_a_sync_holds_to_the_rate_limit():
    text = edit(MINIMAL, "mapping_fields:", "rate_limit: {requests: 1, per_seconds: 2}\nmapping_fields:")
    text = edit(text, """item_template: '"$user_id"'\n  remove_users""",
                """item_template: '"$user_id"'\n    batch_size: 2\n  remove_users""")
    integration = portalspec.compile(portalspec.load(text))
    values = portalspec.Values({"bearer_token": "t"}, {"user_id": "user_id"}, portalspec.Cohort("1", "c"))
    clock = Clock()
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return httpx.Response(200, json={"listId": 5})

    transport = Transport(client=httpx.Client(transport=httpx.MockTransport(answer)))
    report = sync(integration, values, [f"u{i}@example.com" for i in range(6)], state=State(":memory:"),
                  transport=transport, options=SyncOptions(concurrency=1, retry=RetryPolicy(base=0)),
                  wait=clock.wait, clock=clock)
    assert report.ok and len(sent) == 4  # create_list and three batches of two
    assert [b - a for a, b in zip(sent, sent[1:])] == [2.0, 2.0, 2.0]  # one request every 2 s

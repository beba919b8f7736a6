"""Shared helpers: a minimal valid definition to modify, and writing definitions to disk."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import pytest

from portalspec.diagnostics import Diagnostic

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "integrations").glob("*/integration.yaml"))

# A minimal valid list-based definition. Tests change it with `edit` and find the expected
# line and column of a diagnostic with `at`, so no position is hard-coded.
MINIMAL = """\
portalspec: 1
name: acme
display_name: Acme
type: list
auth:
  method: bearer
headers:
  X-Region: $region
custom_fields:
  - variable: region
    display_name: Region
    type: single_select
    options:
      - {label: United States, value: us}
      - {label: Europe, value: eu}
    default: us
mapping_fields:
  - variable: user_id
    mapping_display_name: User ID Mapping
    display_name: User ID
endpoints:
  create_list:
    method: POST
    url: https://api.acme.example/lists
    payload: |
      {"name": "[Amplitude] $amp_cohort_name"}
    list_id:
      path: listId
    example_response: {"listId": 2568}
  add_users:
    method: POST
    url: https://api.acme.example/lists/$list_id/add
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'
  remove_users:
    method: POST
    url: https://api.acme.example/lists/$list_id/remove
    payload: |
      {"userIds": $items}
    item_template: '"$user_id"'
"""

# MINIMAL with a list lookup: find_list picks the cohort's list by the name create_list gives
# it, and create_list answers 409 for a list that exists.
FINDS = MINIMAL.replace("""endpoints:
  create_list:""", """endpoints:
  find_list:
    url: https://api.acme.example/lists?name=$amp_cohort_name
    list_id: {path: "$.items[?(@.name == '[Amplitude] $amp_cohort_name')].listId"}
  create_list:""").replace("""    example_response: {"listId": 2568}
""", """    example_response: {"listId": 2568}
    exists_on: [409]
""")

# MINIMAL whose create_list sends its own credential (basic, from two secret custom fields),
# while the other endpoints send the definition's bearer token.
OWN_AUTH = MINIMAL.replace("""    url: https://api.acme.example/lists
""", """    url: https://api.acme.example/lists
    auth: {method: basic, fields: {api_key: site_id, secret_key: app_key}}
""", 1).replace("""mapping_fields:""", """  - {variable: site_id, display_name: Site ID, type: string, secret: true}
  - {variable: app_key, display_name: App key, type: string, secret: true}
mapping_fields:""")

# A minimal valid property-based definition.
PROPERTY = """\
portalspec: 1
name: traits
display_name: Traits
type: property
auth:
  method: basic
mapping_fields:
  - variable: user_id
    mapping_display_name: User ID Mapping
    display_name: userId
endpoints:
  update_users:
    method: POST
    url: https://api.traits.example/v1/batch
    payload: |
      {"batch": $items}
    item_template: |
      {"userId": "$user_id",
       "traits": {"cohort $amp_cohort_id": $amp_in_cohort}}
"""


def edit(text: str, old: str, new: str, count: int = 1) -> str:
    """``text`` with ``old`` (which must occur exactly ``count`` times) replaced by ``new``."""
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times, expected {count}"
    return text.replace(old, new)


def at(text: str, needle: str, nth: int = 0, plus: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the ``nth`` occurrence of ``needle`` in ``text``, ``plus`` chars on."""
    index = -1
    for _ in range(nth + 1):
        index = text.find(needle, index + 1)
        assert index >= 0, f"{needle!r} not found {nth + 1} times"
    index += plus
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def codes(diagnostics: Iterable[Diagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


def only(diagnostics: Iterable[Diagnostic], code: str) -> Diagnostic:
    """The one diagnostic with ``code`` (failing if there are none or several)."""
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, f"expected one {code}, got {[(d.code, d.message) for d in diagnostics]}"
    return found[0]


def pos(diagnostic: Diagnostic) -> tuple[int | None, int | None]:
    return diagnostic.line, diagnostic.column


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a definition (text or bytes) under tmp_path and return its path."""

    def _write(content: str | bytes, name: str = "integration.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


EXAMPLES_DIR = REPO / "integrations"


def tweaked(tmp_path: Path, example: str, old: str, new: str) -> Path:
    """A copy of ``integrations/<example>/integration.yaml`` in ``tmp_path`` with every ``old``
    replaced by ``new`` (which must occur)."""
    text = (EXAMPLES_DIR / example / "integration.yaml").read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in the {example} example"
    path = tmp_path / f"{example}.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def state_rows(path: Path) -> dict[str, int]:
    """Rows of the sync state file's tables, read with sqlite3 directly (0 where none);
    ``members``: the members stored, the membership log replayed (by a read-only State)."""
    import sqlite3

    from portalspec.sync import State

    if not path.exists():
        return {"syncs": 0, "members": 0, "runs": 0}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        have = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] if t in have else 0
                  for t in ("syncs", "runs")}
        ids = [i for (i,) in db.execute("SELECT id FROM syncs")] if "syncs" in have else []
    finally:
        db.close()
    with State(path, readonly=True) as state:
        counts["members"] = sum(len(state.members(i)) for i in ids)
    return counts


class FakeTime:
    """A clock and a wait for code that takes both (sync's engine, rate limits): waiting
    moves the clock, and each wait is recorded, so a test sees the delays without spending them."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False

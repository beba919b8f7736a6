"""Shared pieces of the compiler/renderer tests: small definitions, values, users, the examples.

Every definition here is written for one purpose and validated when compiled, so a test that
uses one fails loudly if the definition format moves under it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from click.testing import CliRunner, Result

import portalspec
from portalspec import Cohort, Integration, MacroContext, Request, User, Values
from portalspec.cli import main

REPO = Path(__file__).resolve().parents[1]
INTEGRATIONS = REPO / "integrations"
EXAMPLES = sorted(p.name for p in INTEGRATIONS.iterdir() if (p / "integration.yaml").is_file())
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOW_TEXT = "2026-01-01T00:00:00Z"


def context(seed: int | None = 7) -> MacroContext:
    return MacroContext(now=NOW, seed=seed)


def compile_text(text: str) -> Integration:
    """Load (and so check) a definition given as YAML text, and compile it."""
    return portalspec.compile(portalspec.load(text))


def compile_file(path: Path) -> Integration:
    return portalspec.compile(portalspec.load(path))


def example(name: str) -> tuple[Integration, Values, Path]:
    """An example of integrations/: its compiled definition, its values and its users file."""
    folder = INTEGRATIONS / name
    integration = compile_file(folder / "integration.yaml")
    return integration, portalspec.load_values(folder / "values.yaml"), folder / "users.csv"


def render_example(name: str, **options: Any) -> list[Request]:
    integration, values, users = example(name)
    source = portalspec.read_users(users, integration.definition, values)
    options.setdefault("context", context())
    return list(integration.render(values, source, **options))


def body(request: Request) -> Any:
    assert request.body is not None
    return json.loads(request.body.decode("utf-8"))


def adds(*ids: Any, variable: str = "user_id") -> list[User]:
    return [User("add", {variable: i}) for i in ids]


def removes(*ids: Any, variable: str = "user_id") -> list[User]:
    return [User("remove", {variable: i}) for i in ids]


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``portalspec ARGS`` in-process; an exception escaping a command is a bug."""
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def cli_render(name: str, fmt: str, *extra: str) -> Result:
    """``portalspec render`` of an example, reproducibly (the snapshot command)."""
    folder = INTEGRATIONS / name
    return cli("render", str(folder / "integration.yaml"), "--values", str(folder / "values.yaml"),
               "--users", str(folder / "users.csv"), "--format", fmt, "--now", NOW_TEXT, "--seed", "7", *extra)


# --- definitions ---------------------------------------------------------------------------

# A list-based definition with a variable in every position: host ($sub), URL path ($segment),
# query ($query), header ($tag), inside a JSON string ($label), a JSON value ($amount), and a
# select ($plan). Batches of 3 so batching shows with a handful of users.
KITCHEN = """\
portalspec: 1
name: kitchen
display_name: Kitchen
type: list
auth:
  method: bearer
headers:
  X-Tag: $tag
custom_fields:
  - {variable: label, display_name: Label, type: string}
  - {variable: amount, display_name: Amount, type: string, default: "1"}
  - {variable: segment, display_name: Segment, type: string, default: main}
  - {variable: query, display_name: Query, type: string, default: q}
  - {variable: tag, display_name: Tag, type: string, default: t}
  - {variable: sub, display_name: Subdomain, type: string, default: api}
  - {variable: plan, display_name: Plan, type: single_select, options: [{label: Free, value: free}, {label: Pro, value: pro}], default: free}
mapping_fields:
  - {variable: user_id, mapping_display_name: User ID Mapping, display_name: User ID}
endpoints:
  create_list:
    method: POST
    url: https://$sub.kitchen.example/lists/$segment?q=$query&plan=$plan
    headers: {X-Request-Id: $request_id}
    payload: |
      {"name": "$amp_cohort_name", "label": "pre $label post", "amount": $amount, "slug": "$amplitude_cohort_name", "id": "$amp_cohort_id", "plan": "$plan"}
    list_id: {path: response.data.id}
    example_response: {"response": {"data": {"id": "L-1"}}}
  add_users:
    method: POST
    url: https://$sub.kitchen.example/lists/$list_id/members/$segment?q=$query
    headers: {X-Request-Id: $request_id}
    payload: '{"label": "$label", "ids": $items, "at": "$now_iso", "epoch": $now_epoch}'
    item_template: '"$user_id"'
    batch_size: 3
  remove_users:
    method: DELETE
    url: https://$sub.kitchen.example/lists/$list_id/members/$segment?q=$query
    headers: {X-Request-Id: $request_id}
    payload: '{"label": "$label", "ids": $items}'
    item_template: '"$user_id"'
    batch_size: 3
"""


def kitchen_values(cohort_name: str = "Beta users", **fields: Any) -> Values:
    return Values({"bearer_token": "tok", "label": "L", **fields}, {"user_id": "user_id"}, Cohort("42", cohort_name))


# A property-based definition whose item template holds two mapping variables, one in a JSON
# string with text around it and one in a JSON value position (the general, per-user path),
# plus $amp_in_cohort and $amp_operation.
TRAITS = """\
portalspec: 1
name: traits
display_name: Traits
type: property
auth:
  method: basic
mapping_fields:
  - {variable: user_id, mapping_display_name: User ID Mapping, display_name: userId}
  - {variable: score, mapping_display_name: Score Mapping, display_name: Score}
endpoints:
  update_users:
    method: POST
    url: https://api.traits.example/v1/batch
    payload: '{"batch": $items}'
    item_template: '{"userId": "$user_id", "tagged": "id:$user_id", "score": $score, "in": $amp_in_cohort, "op": "$amp_operation"}'
    batch_size: 2
"""


def traits_values(**fields: Any) -> Values:
    return Values({"api_key": "key", **fields}, {"user_id": "user_id", "score": "score"}, Cohort("7", "Traits"))


# A list-based definition whose item template is a bare JSON value ($user_id, not "$user_id"):
# a string id becomes a JSON string, a number stays a number.
BARE = """\
portalspec: 1
name: bare
display_name: Bare
type: list
auth:
  method: header
  header_name: X-Api-Key
mapping_fields:
  - {variable: user_id, mapping_display_name: User ID Mapping, display_name: User ID}
endpoints:
  create_list:
    method: POST
    url: https://api.bare.example/lists
    payload: '{"name": "$amp_cohort_name"}'
    list_id: {path: id}
    example_response: {"id": 5}
  add_users:
    method: POST
    url: https://api.bare.example/lists/$list_id/add
    payload: '{"ids": $items}'
    item_template: '$user_id'
  remove_users:
    method: POST
    url: https://api.bare.example/lists/$list_id/remove
    payload: '{"ids": $items}'
    item_template: '$user_id'
"""


def bare_values() -> Values:
    return Values({"api_key": "k"}, {"user_id": "user_id"}, Cohort("1", "Bare"))


# A secret custom field that lands in a URL path, a header that is not an auth header, and a
# payload: masking must follow the value's origin, not the header's name.
VAULT = """\
portalspec: 1
name: vault
display_name: Vault
type: list
auth:
  method: header
  header_name: X-Api-Key
custom_fields:
  - {variable: account_token, display_name: Account Token, type: string, secret: true}
  - {variable: region, display_name: Region, type: string, default: us}
mapping_fields:
  - {variable: user_id, mapping_display_name: User ID Mapping, display_name: User ID}
endpoints:
  create_list:
    method: POST
    url: https://api.vault.example/accounts/$account_token/lists?region=$region
    headers: {X-Account: acct-$account_token}
    payload: '{"token": "$account_token", "name": "$amp_cohort_name"}'
    list_id: {path: id}
    example_response: {"id": "v1"}
  add_users:
    method: POST
    url: https://api.vault.example/accounts/$account_token/lists/$list_id/add
    payload: '{"ids": $items, "auth": "$account_token"}'
    item_template: '"$user_id"'
  remove_users:
    method: POST
    url: https://api.vault.example/accounts/$account_token/lists/$list_id/remove
    payload: '{"ids": $items}'
    item_template: '"$user_id"'
"""

VAULT_API_KEY = "key-AAA111"
VAULT_TOKEN = "tok-ZZZ999"
VAULT_VALUES = f"""\
fields: {{api_key: "{VAULT_API_KEY}", account_token: "{VAULT_TOKEN}"}}
mappings: {{user_id: user_id}}
cohort: {{id: "11", name: "Vault users"}}
"""
VAULT_USERS = "operation,user_id\nadd,u1\nadd,u2\nremove,u3\n"


def write_files(folder: Path, files: dict[str, str | bytes]) -> dict[str, Path]:
    out = {}
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        out[name] = path
    return out


def ids_in(requests: Iterable[Request], key: str = "ids") -> list[list[Any]]:
    return [body(r)[key] for r in requests if r.endpoint != "create_list"]

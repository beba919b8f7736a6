"""portalspec.preview and ``portalspec preview``: the page's content, without a browser
(tests/test_preview_browser.py opens it in one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from portalspec.cli import main
from portalspec.loader import parse_document, read_document
from portalspec.macros import MacroContext
from portalspec.preview import build_preview, controls, example_values, render_html
from portalspec.validate import load

from .conftest import EXAMPLES, MINIMAL, PROPERTY, REPO, edit

INFOBIP = REPO / "integrations" / "infobip"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_page_is_self_contained(example: Path):
    html = render_html(build_preview(read_document(example), context=MacroContext(seed=1)))
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # Nothing to fetch: no src or href but in-page anchors and data: URIs, no stylesheet or script file.
    assert re.findall(r'\s(?:src|href)="(?!#|data:)[^"]*"', html) == []
    assert "<link" not in html and "<script src" not in html


def test_the_modal_has_one_control_per_field_with_its_widget():
    text = edit(MINIMAL, "    default: us\n", "    default: us\n  - {variable: token, display_name: Token, "
                "type: string, secret: true}\n  - {variable: plan, display_name: Plan, type: button_group, "
                "options: [{label: Free, value: free}]}\n  - {variable: note, display_name: Note, type: string}\n")
    text = edit(text, "  X-Region: $region\n", "  X-Region: $region\n  X-T: $token $plan $note\n")
    found = [(c.variable, c.widget, c.selected) for c in controls(load(text))]
    assert found == [("bearer_token", "password", None), ("region", "select", "us"), ("token", "password", None),
                     ("plan", "button_group", None), ("note", "text", None), ("user_id", "mapping", None)]


def test_the_lifecycle_is_create_add_remove_masked_with_curl():
    preview = build_preview(read_document(INFOBIP / "integration.yaml"), context=MacroContext(seed=1))
    assert [r.endpoint for r in preview.requests] == ["create_list", "add_users", "remove_users"]
    add = preview.requests[1]
    assert add.url == "https://api.infobip.example/people/2/lists/2568/add"
    assert ("Authorization", "App ********") in add.headers
    assert add.body.startswith('{\n  "userIds": [\n    "user123",')  # pretty-printed
    assert '"${INFOBIP_API_KEY}"' in add.curl and "example-api-key" not in add.curl
    assert any("example values" in n for n in preview.notes)


def test_a_property_integration_renders_its_update_batches():
    preview = build_preview(parse_document(PROPERTY, "traits.yaml"), context=MacroContext(seed=1))
    assert [r.endpoint for r in preview.requests] == ["update_users", "update_users"]


def test_values_that_do_not_fit_are_a_note_not_a_crash():
    definition = load(INFOBIP / "integration.yaml")
    values = example_values(definition)
    wrong = type(values)({"nope": 1}, values.mappings, values.cohort)
    preview = build_preview(read_document(INFOBIP / "integration.yaml"), wrong)
    assert preview.requests == () and any("unknown field 'nope'" in n for n in preview.notes)


def test_an_invalid_definition_gets_a_page_with_its_diagnostics_beside_the_lines():
    text = edit(MINIMAL, "type: list", "type: lists")
    preview = build_preview(parse_document(text, "broken.yaml"))
    assert not preview.valid and preview.controls == () and preview.requests == ()
    flagged = [line for line in preview.source if line.diagnostics]
    assert [line.text for line in flagged] == ["type: lists"]
    html = render_html(preview)
    assert 'id="invalid-banner"' in html and 'id="setup-modal"' not in html
    assert re.search(r'id="L4".*?</div>\s*<div class="diag error" data-line="4">', html, re.S)


def test_the_cli_writes_the_site_and_exits_1_for_an_invalid_definition(tmp_path: Path, write):
    ok = CliRunner().invoke(main, ["preview", str(INFOBIP / "integration.yaml"), "--values",
                                   str(INFOBIP / "values.yaml"), "--users", str(INFOBIP / "users.csv"),
                                   "-o", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.output
    html = (tmp_path / "ok" / "index.html").read_text(encoding="utf-8")
    assert "user457" in html and "example values" not in html  # the users and values given
    broken = write(edit(MINIMAL, "type: list", "type: lists"))
    bad = CliRunner().invoke(main, ["preview", str(broken), "-o", str(tmp_path / "bad")])
    assert bad.exit_code == 1
    assert (tmp_path / "bad" / "index.html").exists()
    assert f"{broken}:4:7: error[PS" in bad.output and "Traceback" not in bad.output


def test_a_bad_values_file_is_a_located_error(tmp_path: Path, write):
    values = write("fields: [1\n", "values.yaml")
    result = CliRunner().invoke(main, ["preview", str(INFOBIP / "integration.yaml"), "--values", str(values),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and f"{values}:" in result.output and "Traceback" not in result.output

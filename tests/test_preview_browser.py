"""The preview page in a real browser: headless Chromium over the DevTools protocol.

Outside CI these tests skip, saying why, when no Chromium is installed; in CI (``CI=true``)
a missing browser fails them (``.ci/run`` installs Debian's ``chromium``). Each example's
modal is screenshotted into ``$PORTALSPEC_SCREENSHOTS`` (default: a temporary directory);
``PORTALSPEC_UPDATE_SCREENSHOTS=1`` also refreshes the one docs/preview.md shows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from portalspec.formats import to_curl
from portalspec.inputs import load_values, read_users
from portalspec.integration import compile as compile_definition
from portalspec.loader import parse_document, read_document
from portalspec.macros import MacroContext
from portalspec.model import Definition
from portalspec.preview import build_preview, shown_value, write_preview
from portalspec.validate import load

from .browser import Browser, Page, find_chromium
from .conftest import EXAMPLES, MINIMAL, REPO, at, edit

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DOCS_EXAMPLE = "relay-basic"  # the modal docs/preview.md shows
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        reason = "headless Chromium is not installed (apt-get install chromium, or set PORTALSPEC_CHROMIUM)"
        if IN_CI:
            pytest.fail(f"{reason}: CI must run the browser tests of the preview", pytrace=False)
        print(f"\nskipping the preview's browser tests: {reason}")
        pytest.skip(reason)
    instance = Browser(executable)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("PORTALSPEC_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def site(example: Path, out: Path) -> Path:
    definition = load(example)
    values = load_values(example.parent / "values.yaml")
    users = list(read_users(example.parent / "users.csv", definition, values))
    preview = build_preview(read_document(example), values, users, context=MacroContext(seed=1))
    return write_preview(preview, out)


def opened(browser: Browser, index: Path) -> Page:
    page = browser.new_page()
    page.open(index.as_uri())
    return page


CONTROLS = """[...document.querySelectorAll('#setup-modal [data-field]')].map(e => ({
  field: e.dataset.field, tag: e.tagName, type: e.type || null, widget: e.dataset.widget,
  options: e.tagName === 'SELECT' ? [...e.options].filter(o => !o.disabled).map(o => o.value)
         : e.tagName === 'FIELDSET' ? [...e.querySelectorAll('input')].map(i => i.value) : [],
  selected: e.tagName === 'SELECT' ? (e.selectedOptions[0] && !e.selectedOptions[0].disabled ? e.value : null)
          : e.tagName === 'FIELDSET' ? ((e.querySelector('input:checked') || {}).value || null) : null,
  inputs: e.tagName === 'FIELDSET' ? [...e.querySelectorAll('input')].map(i => i.type) : []}))"""


def expected_controls(definition: Definition) -> list[dict]:
    out = [{"field": v.name, "tag": "INPUT", "type": "password"} for v in definition.auth.scheme.variables]
    for f in definition.custom_fields:
        values = [shown_value(o.value) for o in f.options]
        default = None if f.default is None else shown_value(f.default)
        if f.type in ("string", "number", "origin", "boolean"):
            kind = "password" if f.secret and f.type == "string" else \
                {"string": "text", "number": "number", "origin": "url", "boolean": "checkbox"}[f.type]
            out.append({"field": f.variable, "tag": "INPUT", "type": kind})
        elif f.type == "single_select":
            out.append({"field": f.variable, "tag": "SELECT", "options": values, "selected": default})
        else:
            out.append({"field": f.variable, "tag": "FIELDSET", "options": values, "selected": default,
                        "inputs": ["radio"] * len(values)})
    out += [{"field": m.variable, "tag": "SELECT", "widget": "mapping"} for m in definition.mapping_fields]
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_each_example_loads_offline_cleanly_with_one_right_control_per_field(browser: Browser, example: Path,
                                                                            tmp_path: Path, screenshots: Path):
    index = site(example, tmp_path / "site")
    page = opened(browser, index)
    try:
        assert page.console_errors() == []
        assert page.requests() == [index.as_uri()]  # the page itself, nothing else
        found = page.evaluate(CONTROLS)
        expected = expected_controls(load(example))
        assert [c["field"] for c in found] == [e["field"] for e in expected]  # one control per field, in order
        for control, want in zip(found, expected):
            assert {key: control[key] for key in want} == want, control["field"]
        page.evaluate("document.querySelector('header.top').style.position = 'static'")
        shot = screenshots / f"{example.parent.name}-modal.png"
        data = page.screenshot("#setup-modal", shot)
        assert data.startswith(PNG) and len(data) > 5000
        if os.environ.get("PORTALSPEC_UPDATE_SCREENSHOTS") and example.parent.name == DOCS_EXAMPLE:
            (REPO / "docs" / "images").mkdir(exist_ok=True)
            (REPO / "docs" / "images" / "preview-modal.png").write_bytes(data)
        assert page.console_errors() == []
    finally:
        page.close()


COPY_AND_READ = """(async () => {
  const button = document.querySelectorAll('button[data-copy-from]')[%d];
  await navigator.clipboard.writeText('(nothing)');
  const copied = new Promise(resolve => new MutationObserver((_, observer) => {
    if (button.classList.contains('copied')) { observer.disconnect(); resolve(); }
  }).observe(button, {attributes: true}));
  button.click();
  await copied;
  return {from: button.dataset.copyFrom, shown: document.getElementById(button.dataset.copyFrom).textContent,
          clipboard: await navigator.clipboard.readText()};
})()"""


def test_copy_buttons_put_the_exact_text_on_the_clipboard(browser: Browser, tmp_path: Path):
    example = REPO / "integrations" / "infobip" / "integration.yaml"
    index = site(example, tmp_path / "site")
    browser.call("Browser.grantPermissions", {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    page = opened(browser, index)
    try:
        page.call("Emulation.setFocusEmulationEnabled", enabled=True)
        count = page.evaluate("document.querySelectorAll('button[data-copy-from]').length")
        copies = [page.evaluate(COPY_AND_READ % i) for i in range(count)]
        assert all(c["clipboard"] == c["shown"] for c in copies)
        # The curl buttons copy exactly what `portalspec render --format curl` prints for each request.
        definition = load(example)
        values = load_values(example.parent / "values.yaml")
        requests = compile_definition(definition).render(
            values, read_users(example.parent / "users.csv", definition, values), mask_secrets=True)
        curls = [c["clipboard"] for c in copies if c["from"].startswith("curl-")]
        assert curls == [to_curl(r, "infobip") for r in requests]
        # The portal sheet's: the add_users URL, as the portal's field wants it.
        sheet = {c["clipboard"] for c in copies if c["from"].startswith("sheet-")}
        assert "https://api.infobip.example/people/2/lists/$list_id/add" in sheet
        assert '"$user_id_field_amplitude"' in sheet and "Infobip" in sheet
        assert page.console_errors() == []
    finally:
        page.close()


def test_an_invalid_definition_shows_each_diagnostic_beside_its_line(browser: Browser, tmp_path: Path):
    text = edit(MINIMAL, "$amp_cohort_name", "$amp_cohort_nam")
    document = parse_document(text, "broken.yaml")
    index = write_preview(build_preview(document), tmp_path / "site")
    page = opened(browser, index)
    try:
        assert page.console_errors() == []
        placed = page.evaluate("""[...document.querySelectorAll('.diag[data-line]')].map(d => ({
            line: d.dataset.line, follows: d.previousElementSibling.closest('.line, .diag') &&
            (d.previousElementSibling.id || d.previousElementSibling.dataset.line), text: d.textContent}))""")
        line, _ = at(text, "$amp_cohort_nam")
        assert len(placed) == 1 and placed[0]["line"] == str(line) and placed[0]["follows"] == f"L{line}"
        assert "PS201" in placed[0]["text"]
        assert page.evaluate("document.getElementById('setup-modal')") is None
        assert "1 error" in page.evaluate("document.getElementById('invalid-banner').textContent")
    finally:
        page.close()


def test_the_docs_show_a_screenshot_of_a_modal():
    image = REPO / "docs" / "images" / "preview-modal.png"
    assert image.read_bytes().startswith(PNG)
    assert "images/preview-modal.png" in (REPO / "docs" / "preview.md").read_text(encoding="utf-8")
    assert json.dumps(DOCS_EXAMPLE)[1:-1] in (REPO / "docs" / "preview.md").read_text(encoding="utf-8")

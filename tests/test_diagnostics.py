"""Diagnostic values: their text and JSON forms, ranking, hints and the error hierarchy."""

from __future__ import annotations

import dataclasses

import pytest

from portalspec.diagnostics import (DefinitionError, Diagnostic, InputError, PortalspecError, Severity, did_you_mean,
                                    format_path, ranked)


def test_format_path_uses_dots_for_names_and_brackets_for_indexes():
    assert format_path(()) == "$"
    assert format_path(("endpoints", "add_users", "url")) == "$.endpoints.add_users.url"
    assert format_path(("custom_fields", 0, "options", 1, "value")) == "$.custom_fields[0].options[1].value"


def test_format_path_quotes_names_that_are_not_identifiers():
    assert format_path(("headers", "X-Api-Key")) == "$.headers.X-Api-Key"
    assert format_path(("headers", "Bad Name")) == "$.headers['Bad Name']"
    assert format_path(("a", "it's\\")) == "$.a['it\\'s\\\\']"
    assert format_path(("1abc",)) == "$['1abc']"


def test_format_prints_location_code_source_line_caret_and_path():
    d = Diagnostic("PS201", "unknown variable $regoin", path=("headers", "X-Region"), file="acme.yaml",
                   line=8, column=13, hint="did you mean 'region'?", source_line="  X-Region: $regoin\n")
    assert d.format() == (
        "acme.yaml:8:13: error[PS201]: unknown variable $regoin\n"
        "      X-Region: $regoin\n"
        "                ^\n"
        "    = at $.headers.X-Region; did you mean 'region'?"
    )


def test_format_of_a_warning_says_warning():
    d = Diagnostic("PS202", "variable 'x' is declared but never used", Severity.WARNING, ("custom_fields", 0, "variable"),
                   file="f.yaml", line=3, column=15)
    first = d.format().splitlines()[0]
    assert first == "f.yaml:3:15: warning[PS202]: variable 'x' is declared but never used"
    assert not d.is_error


def test_format_without_position_or_path():
    d = Diagnostic("PS001", "no such file: 'x.yaml'", file="x.yaml")
    assert d.format() == "x.yaml: error[PS001]: no such file: 'x.yaml'"
    assert Diagnostic("PS005", "the definition is empty").format() == "<string>: error[PS005]: the definition is empty"


def test_format_with_line_but_no_column():
    d = Diagnostic("PS006", "bad", file="f.yaml", line=4)
    assert d.format() == "f.yaml:4: error[PS006]: bad"


def test_caret_lines_up_under_tabs():
    # Tabs are shown as one space, so the caret stays under the right character.
    d = Diagnostic("PS006", "bad", file="f", line=1, column=3, source_line="\t\tx")
    _, shown, caret = d.format().splitlines()
    assert shown == "      x"
    assert caret.index("^") == shown.index("x")


def test_to_dict_is_the_json_shape():
    d = Diagnostic("PS307", "default 'uk' is not one of the option values", Severity.ERROR,
                   ("custom_fields", 0, "default"), "f.yaml", 16, 14, "did you mean 'us'?", "    default: uk")
    assert d.to_dict() == {
        "code": "PS307",
        "severity": "error",
        "message": "default 'uk' is not one of the option values",
        "path": "$.custom_fields[0].default",
        "file": "f.yaml",
        "line": 16,
        "column": 14,
        "hint": "did you mean 'us'?",
    }


def test_diagnostics_are_frozen_and_located_returns_a_copy():
    d = Diagnostic("PS201", "m", path=("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.line = 3  # type: ignore[misc]
    moved = d.located("f.yaml", 3, 4, "text")
    assert (moved.file, moved.line, moved.column, moved.source_line) == ("f.yaml", 3, 4, "text")
    assert d.line is None


def test_ranked_puts_errors_first_then_file_order_and_drops_duplicates():
    w_early = Diagnostic("PS202", "unused", Severity.WARNING, ("x",), line=1, column=1)
    e_late = Diagnostic("PS201", "unknown", path=("b",), line=20, column=5)
    e_early = Diagnostic("PS102", "unknown key", path=("a",), line=3, column=1)
    e_same_line = Diagnostic("PS303", "bad json", path=("c",), line=20, column=2)
    duplicate = Diagnostic("PS201", "unknown", path=("b",), line=20, column=5)
    out = ranked([w_early, e_late, e_early, duplicate, e_same_line])
    assert out == [e_early, e_same_line, e_late, w_early]


def test_ranked_keeps_diagnostics_that_differ_in_message():
    a = Diagnostic("PS201", "unknown variable $a", path=("p",), line=1, column=1)
    b = Diagnostic("PS201", "unknown variable $b", path=("p",), line=1, column=5)
    assert ranked([b, a]) == [a, b]


def test_did_you_mean_suggests_the_one_close_name():
    assert did_you_mean("display_nam", ["name", "display_name", "type"]) == "did you mean 'display_name'?"
    assert did_you_mean("regoin", ["region", "api_key"]) == "did you mean 'region'?"


def test_did_you_mean_is_silent_when_nothing_is_close():
    assert did_you_mean("zzz", ["name", "display_name"]) is None
    assert did_you_mean("anything", []) is None


def test_definition_error_summarises_the_first_error_and_counts_the_rest():
    errors = [Diagnostic("PS201", "unknown variable $x", file="f.yaml", line=3, column=4),
              Diagnostic("PS303", "bad json", file="f.yaml", line=9, column=1),
              Diagnostic("PS102", "unknown key 'k'", file="f.yaml", line=12, column=1)]
    warning = Diagnostic("PS202", "unused", Severity.WARNING, file="f.yaml", line=1, column=1)
    exc = DefinitionError([warning] + errors)
    assert str(exc) == "f.yaml:3:4: error[PS201]: unknown variable $x (and 2 more errors)"
    assert exc.diagnostics == (warning, *errors)
    assert str(DefinitionError(errors[:2])).endswith("(and 1 more error)")
    assert isinstance(exc, PortalspecError)
    assert issubclass(InputError, PortalspecError)


def test_definition_error_without_diagnostics_still_has_a_message():
    assert str(DefinitionError([])) == "invalid definition"


def _package_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the package, by name."""
    import importlib
    import inspect
    import pkgutil

    import portalspec

    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(portalspec.__path__, "portalspec."):
        if info.name.endswith(".__main__"):  # importing it runs the CLI
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[cls.__name__] = cls
    return found


def _documented_tree() -> dict[str, tuple[str, str | None]]:
    """The tree in diagnostics' docstring: name -> (module, parent name), from its indentation."""
    import re

    import portalspec.diagnostics as module

    text = module.__doc__ or ""
    block = text.split("::\n\n", 1)[1].split("\n\n", 1)[0]  # the indented block after "::"
    tree: dict[str, tuple[str, str | None]] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        m = re.match(r"^(\s*(?:[│ ]*[├└]── )?)(\w+)(?:\s+([\w.]+))?", line)
        assert m, line
        column, name, where = len(m.group(1)), m.group(2), m.group(3) or ""
        while stack and stack[-1][0] >= column:
            stack.pop()
        tree[name] = (where, stack[-1][1] if stack else None)
        stack.append((column, name))
    return tree


def test_the_exception_tree_in_the_docstring_lists_every_exception_class_where_it_lives():
    classes, tree = _package_exceptions(), _documented_tree()
    assert {"PortalspecError", "TransportError", "StateLocked", "JSONPathError"} <= set(classes)
    missing = sorted(set(classes) - set(tree))
    assert not missing, f"exception classes missing from portalspec/diagnostics.py's tree: {missing}"
    for name, cls in classes.items():
        where, parent = tree[name]
        assert cls.__module__ == f"portalspec.{where}", f"{name} lives in {cls.__module__}, the tree says {where}"
        assert cls.__bases__[0].__name__ == parent, f"{name} derives from {cls.__bases__[0].__name__}, the tree says {parent}"


def test_the_exception_tree_names_no_class_that_is_gone():
    classes = _package_exceptions()
    stale = sorted(name for name, (where, _) in _documented_tree().items() if where and name not in classes)
    assert not stale, f"the tree in portalspec/diagnostics.py names classes that do not exist: {stale}"

"""``render -o FILE`` writes bytes straight to the file (formats.format_bytes): the same bytes as
the text formats (the snapshots), whatever the bodies hold."""

from __future__ import annotations

import pytest

from portalspec import Request
from portalspec.formats import FORMATS, format_bytes, format_requests

from .render_helpers import EXAMPLES, cli_render
from .test_formats import SNAPSHOTS


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_output_file_is_the_snapshot(name, fmt, tmp_path):
    out = tmp_path / "out"
    result = cli_render(name, fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (SNAPSHOTS / f"{name}.{fmt}").read_bytes()


SENTINEL = "pssecret0123456789abcdef00q9z"
BODIES = [None, b"", b'{"a": "b"}', b'{"a": "\\"q\\\\"}', b'{"a":\n\t"x\x01\x1f\x7f"}', '{"é": "\u2028☃ 𝄞"}'.encode(),
          f'{{"key": "{SENTINEL}", "k2": "x{SENTINEL}"}}'.encode(), b'"\\u0000"']


@pytest.mark.parametrize("fmt", FORMATS)
def test_bytes_equal_text_for_awkward_bodies(fmt):
    requests = [Request("POST", f"https://h.test/{SENTINEL}?a=\u2028", (("X-Key", SENTINEL), ("Y", "é\n")), body,
                        "add_users", 2, ((SENTINEL, "api_key"),)) for body in BODIES]
    for shown in (requests, requests[:1], requests[2:3], []):
        text = "".join(format_requests(shown, fmt))
        assert b"".join(format_bytes(shown, fmt)) == text.encode("utf-8")

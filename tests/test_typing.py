"""The package type-checks: mypy, with the configuration in pyproject.toml ([tool.mypy])."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def test_mypy_finds_no_errors_in_the_package():
    # mypy is in the `test` extra (pinned); run from the repository so it reads pyproject.toml.
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir",
                             str(REPO / ".mypy_cache")], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert "No module named mypy" not in result.stderr, "install the test extra: pip install -e '.[test]'"
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"

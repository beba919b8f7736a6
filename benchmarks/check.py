"""``portalspec check`` on a large description: SendGrid's v3 API (2.3 MB in 63 JSON files).

    python3 benchmarks/check.py

Prints, for SendGrid's description as published and for the same files re-indented to
about 3 MB, the time to load it (parse every file, follow every ``$ref``, run
openapi-spec-validator once) and the time to check ``integrations/sendgrid-lists`` against
it (render every sample, match and validate each request with openapi-core). Target: a few
seconds for 3 MB.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portalspec.contract.check import check_contract  # noqa: E402
from portalspec.contract.load import load_description  # noqa: E402
from portalspec.validate import load  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SENDGRID = REPO / "tests" / "data" / "openapi" / "sendgrid"
DEFINITION = REPO / "integrations" / "sendgrid-lists" / "integration.yaml"


def size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.json"))


def measure(root: Path) -> None:
    definition = load(DEFINITION)
    started = time.perf_counter()
    description = load_description(root / "oas_v3.json")
    loaded = time.perf_counter()
    report = check_contract(definition, [description])
    checked = time.perf_counter()
    print(f"{size(root) / 1e6:.1f} MB in {len(description.files)} files: load {loaded - started:.2f} s, "
          f"check {checked - loaded:.2f} s ({report.requests} requests in {report.samples} samples), "
          f"total {checked - started:.2f} s; {[d.code for d in report.diagnostics]}")


def inline_components(root: Path) -> None:
    """SendGrid's root names whole files as its components (why it fails spec validation);
    put them in the root instead, so openapi-spec-validator passes and walks everything: the
    slowest load there is."""
    data = json.loads((root / "oas_v3.json").read_text(encoding="utf-8"))
    for kind, ref in data["components"].items():
        text = (root / ref["$ref"]).read_text(encoding="utf-8")
        text = text.replace('"./', '"./spec/components/').replace('"#/', f'"#/components/{kind}/')
        data["components"][kind] = json.loads(text)
    (root / "oas_v3.json").write_text(json.dumps(data), encoding="utf-8")


def widen(root: Path) -> None:
    """The same description, re-indented: about 3.5 MB."""
    for path in root.rglob("*.json"):
        path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=8), encoding="utf-8")


def main() -> None:
    for label, changes in (("as published", ()), ("re-indented", (widen,)),
                           ("components inlined (passes spec validation)", (inline_components,)),
                           ("components inlined, re-indented", (inline_components, widen))):
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "sendgrid"
            shutil.copytree(SENDGRID, copy)
            for change in changes:
                change(copy)
            print(f"{label}: ", end="")
            measure(copy)


if __name__ == "__main__":
    main()

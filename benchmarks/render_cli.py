"""End-to-end render benchmark: ``portalspec render --format json -o`` as a user runs it, against
the hand-written script (benchmarks/hand_render.py), run alternately in one process tree.

    python3 benchmarks/render_cli.py [--users 1000000] [--rounds 3] [--memory-users 2000000]

Users: shuffled email- and UUID-shaped ids (benchmarks/data.py), batch 10,000, from the portal's
test CSV, the cohort export CSV and JSON lines. Targets (the issue's): at most 0.6x the script's
time for a list definition and 0.4x for the property one (Segment identify), from every shape;
peak RSS of rendering 2,000,000 users at most 150 MiB. Prints medians and ratios; exits 1 if a
target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import PYTHON, compile_package, alternate, median, run, write_files  # noqa: E402
from render import LIST, PROPERTY  # noqa: E402

HERE = Path(__file__).resolve().parent
VALUES = """fields: {bearer_token: "t"}
mappings: {user_id_field_amplitude: user_id}
cohort: {id: "1234", name: "Beta users"}
list_id: "L1"
"""
TARGETS = {"list": 0.6, "property": 0.4}
MEMORY_TARGET = 150.0


def portalspec(definition: Path, values: Path, users: Path, out: Path) -> list[str]:
    return [PYTHON, "-m", "portalspec", "render", str(definition), "--values", str(values), "--users", str(users),
            "--format", "json", "-o", str(out)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-users", type=int, default=2_000_000)
    parser.add_argument("--shapes", default="test CSV,export CSV,JSON lines")
    args = parser.parse_args()
    compile_package()
    ok = True
    with tempfile.TemporaryDirectory(prefix="portalspec-bench-") as tmp:
        folder = Path(tmp)
        written = write_files(folder, args.users, ["test.csv", "export.csv", "users.jsonl"])
        files = {"test CSV": written["test.csv"], "export CSV": written["export.csv"],
                 "JSON lines": written["users.jsonl"]}
        values = folder / "values.yaml"
        values.write_text(VALUES, encoding="utf-8")
        definitions = {"list": folder / "list.yaml", "property": folder / "property.yaml"}
        definitions["list"].write_text(LIST, encoding="utf-8")
        definitions["property"].write_text(PROPERTY, encoding="utf-8")
        out = folder / "out.json"
        print(f"render --format json -o, {args.users:,} shuffled ids, batch 10,000, median of {args.rounds} "
              "alternated runs (wall s, CPU s, peak RSS MiB)")
        for shape in args.shapes.split(","):
            users = files[shape]
            for kind, definition in definitions.items():
                results = alternate({
                    "portalspec": lambda: run(portalspec(definition, values, users, out)),
                    "hand-written": lambda: run([PYTHON, str(HERE / "hand_render.py"), kind, str(users), str(out)]),
                }, args.rounds)
                ours, theirs = ([median([r[i] for r in results[name]]) for i in range(3)]
                                for name in ("portalspec", "hand-written"))
                ratio = ours[0] / theirs[0]
                met = ratio <= TARGETS[kind]
                ok &= met
                print(f"  {shape:<10} {kind:<8} portalspec {ours[0]:6.2f} s {ours[1]:6.2f} cpu {ours[2]:6.0f} MiB | "
                      f"hand-written {theirs[0]:6.2f} s {theirs[2]:6.0f} MiB | ratio {ratio:4.2f}x "
                      f"(target <= {TARGETS[kind]}x){'' if met else '  MISSED'}")
        if args.memory_users:
            (folder / "big").mkdir()
            big = write_files(folder / "big", args.memory_users, ["test.csv"], seed=5)["test.csv"]
            _, _, rss = run(portalspec(definitions["property"], values, big, out))
            met = rss <= MEMORY_TARGET
            ok &= met
            print(f"\npeak RSS rendering {args.memory_users:,} users (property, test CSV): {rss:.0f} MiB "
                  f"(target <= {MEMORY_TARGET:.0f} MiB){'' if met else '  MISSED'}")
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

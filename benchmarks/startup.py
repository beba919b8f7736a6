"""Start-up benchmark: ``portalspec --help`` and ``portalspec validate`` of one example, against
``python -c 'import click'``, run alternately in one process tree.

    python3 benchmarks/startup.py [--rounds 15]

Targets (the issue's): --help at most 0.12 s and 2.5x the click import; validate at most 0.2 s
and 4x. Prints medians of wall time; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import PYTHON, compile_package, alternate, median, run  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "integrations" / "infobip" / "integration.yaml"
CASES = {
    "python -c 'import click'": [PYTHON, "-c", "import click"],
    "portalspec --help": [PYTHON, "-m", "portalspec", "--help"],
    "portalspec validate EXAMPLE": [PYTHON, "-m", "portalspec", "validate", str(EXAMPLE)],
}
TARGETS = {"portalspec --help": (0.12, 2.5), "portalspec validate EXAMPLE": (0.2, 4.0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    compile_package()
    results = alternate({name: (lambda argv=argv: run(argv)) for name, argv in CASES.items()}, args.rounds)
    walls = {name: median([r[0] for r in rows]) for name, rows in results.items()}
    base = walls["python -c 'import click'"]
    ok = True
    print(f"start-up, median of {args.rounds} alternated runs")
    for name, wall in walls.items():
        line = f"  {name:<30} {wall:6.3f} s  {wall / base:5.2f}x click"
        if name in TARGETS:
            seconds, ratio = TARGETS[name]
            met = wall <= seconds and wall / base <= ratio
            ok &= met
            line += f"   (target <= {seconds} s and <= {ratio}x){'' if met else '  MISSED'}"
        print(line)
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Realistic benchmark data: shuffled ids shaped as real ones are (emails and UUIDs), never
``user-1…n``, and the users files of every shape built from them.

Sorted ids hide costs that real ids bring (a B-tree insert at a random place, a hash
table's spread), so every benchmark takes its ids from here.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

FIRST = ("ana", "ben", "chloé", "dmitri", "eva", "farid", "gus", "hana", "ivan", "jo", "kemal", "lena", "mo",
         "nora", "otto", "priya", "quinn", "rosa", "sven", "tariq", "uma", "vic", "wei", "xena", "yuki", "zoe")
LAST = ("smith", "garcia", "müller", "nguyen", "kowalski", "rossi", "okafor", "tanaka", "silva", "cohen",
        "ivanova", "dubois", "haddad", "larsen", "patel", "kim")
DOMAINS = ("gmail.com", "example.org", "acme.io", "mail.example.co.uk", "outlook.com", "corp.example.net")


def ids(n: int, seed: int = 13) -> list[str]:
    """``n`` distinct ids, shuffled: about half emails, half UUIDs."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        if i % 2:
            out.append(str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        else:
            out.append(f"{rng.choice(FIRST)}.{rng.choice(LAST)}{i}@{rng.choice(DOMAINS)}")
    rng.shuffle(out)
    return out


def write_test_csv(path: Path, id_list: Sequence[str], variable: str = "user_id_field_amplitude") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(f"operation,{variable}\n")
        out.writelines(f"add,{u}\n" for u in id_list)
    return path


def write_export_csv(path: Path, id_list: Sequence[str]) -> Path:
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write('"amplitude_id","user_id"\n')
        out.writelines(f'"{rng.getrandbits(40)}","{u}"\n' for u in id_list)
    return path


def write_json_lines(path: Path, id_list: Sequence[str]) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps({"user_id": u}, ensure_ascii=False) + "\n" for u in id_list)
    return path


def write_plain(path: Path, id_list: Sequence[str]) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(u + "\n" for u in id_list)
    return path


def run(argv: Sequence[str], cwd: Path | None = None) -> tuple[float, float, float]:
    """Run a command: (wall seconds, CPU seconds of the child, peak RSS MiB of the child)."""
    start = time.perf_counter()
    process = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = __import__("os").wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        err = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{' '.join(argv)} failed ({status}): {err[-2000:]}")
    if process.stderr:
        process.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def alternate(cases: dict[str, Callable[[], tuple[float, ...]]], rounds: int) -> dict[str, list[tuple[float, ...]]]:
    """Run every case once per round, in turn, ``rounds`` times: the same machine load for each."""
    results: dict[str, list[tuple[float, ...]]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            results[name].append(case())
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


PYTHON = sys.executable


def compile_package() -> None:
    """Write portalspec's bytecode, as a (non-editable) install does, before timing its CLI.

    Under PYTHONDONTWRITEBYTECODE (set on some CI machines, and on this one) an editable
    install never caches bytecode, and every run would time CPython compiling the package
    (~90 ms) rather than portalspec; the hand-written baseline is one small script either way."""
    import compileall
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "portalspec"), quiet=1)


WRITERS = {"test.csv": write_test_csv, "export.csv": write_export_csv, "users.jsonl": write_json_lines,
           "plain.txt": write_plain}


def write_files(folder: Path, n: int, names: Sequence[str], seed: int = 13) -> dict[str, Path]:
    """The users files ``names`` of ``n`` ids, written by a child process: the ids never swell
    this process, whose children's peak RSS (inherited across fork) is measured."""
    subprocess.run([PYTHON, __file__, str(folder), str(n), str(seed), *names], check=True)
    return {name: folder / name for name in names}


if __name__ == "__main__":
    target, count, seed_text, *wanted = sys.argv[1:]
    made = ids(int(count), int(seed_text))
    for file_name in wanted:
        WRITERS[file_name](Path(target) / file_name, made)

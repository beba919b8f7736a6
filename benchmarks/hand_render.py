"""The baseline of benchmarks/render_cli.py: the ten-line script a user could write instead of
``portalspec render`` — read the users file (csv.DictReader, or json.loads per line), build
dicts, json.dumps each batch of 10,000, write the bodies.

    python3 benchmarks/hand_render.py list|property USERS OUT
"""

import csv
import json
import sys

BATCH = 10_000
TRAIT = "[Amplitude] Beta users: 1234"
CONTEXT = {"integration": {"name": "Amplitude Cohort Sync", "version": "1.0.0"}}


def users(path):
    with open(path, encoding="utf-8", newline="") as handle:
        if path.endswith(".jsonl"):
            for line in handle:
                yield json.loads(line)["user_id"]
        else:
            for row in csv.DictReader(handle):
                yield row.get("user_id_field_amplitude") or row["user_id"]


def main(kind, path, out_path):
    with open(out_path, "w", encoding="utf-8") as out:
        batch = []
        for user in users(path):
            if kind == "list":
                batch.append(user)
            else:
                batch.append({"type": "identify", "userId": user, "traits": {TRAIT: True}, "context": CONTEXT})
            if len(batch) == BATCH:
                out.write(json.dumps({"userIds" if kind == "list" else "batch": batch}) + "\n")
                batch = []
        if batch:
            out.write(json.dumps({"userIds" if kind == "list" else "batch": batch}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])

"""Pre-defined macros: values computed at render time rather than typed by anyone.

Rendering is pure except through :class:`MacroContext`: the clock and the random source
are fixed by ``now`` and ``seed`` so previews are reproducible (``render --now --seed``).
"""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .variables import PREDEFINED, Origin

SLUG_MAX = 100
_SLUG_RUN = re.compile(r"[^A-Za-z0-9_]+")


def slugify(name: str) -> str:
    """``Saturday's cohort & héllo`` → ``Saturday-s-cohort-he-llo`` (as the portal does:
    NFKD, each run of characters outside ``A-Za-z0-9_`` → one ``-``, at most 100 characters)."""
    return _SLUG_RUN.sub("-", unicodedata.normalize("NFKD", name))[:SLUG_MAX]


def parse_now(text: str) -> datetime:
    """``--now``: ISO 8601 (``2026-01-01T00:00:00Z``) or seconds since 1970."""
    try:
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    except ValueError:
        pass
    except (OverflowError, OSError) as exc:  # "inf", "1e20": out of the platform's range
        raise ValueError(f"{text!r} is out of range: {exc}") from None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class MacroContext:
    """The clock and randomness of one render: one instant, and a seeded UUID stream."""

    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    seed: int | None = None

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed) if self.seed is not None else random.SystemRandom()

    def constants(self) -> dict[str, Any]:
        now = self.now.astimezone(timezone.utc)
        return {
            "now_iso": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "now_epoch": int(now.timestamp()),
        }

    def per_request(self) -> dict[str, Any]:
        return {"request_id": str(uuid.UUID(int=self._random.getrandbits(128), version=4))}


@dataclass(frozen=True)
class MacroInfo:
    name: str
    description: str
    example: str


def macro_table() -> list[MacroInfo]:
    """What ``portalspec macros`` lists: every computed variable with an example value."""
    ctx = MacroContext(now=datetime(2026, 1, 1, tzinfo=timezone.utc), seed=0)
    examples = {**ctx.constants(), **ctx.per_request(),
                "amplitude_cohort_name": slugify("Saturday's cohort & héllo"),
                "amp_message_id": "5b0e8d7e-3f4a-5c1e-9f0a-2d6c8b1e4a77"}
    return [MacroInfo(v.name, v.description, str(examples[v.name]))
            for v in PREDEFINED.values() if v.origin is Origin.MACRO]

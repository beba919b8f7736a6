"""Sync state in SQLite: per integration + destination settings + cohort, the list id, the
membership the destination is known to hold, and a history of runs.

A member is stored under its identity — the source's member key (the export's ``user_id``,
else its ``amplitude_id``; the ``user_id`` of JSON lines; the id of a plain list) — with the
mapped values it was delivered with, as JSON (``vals``): a changed value is sent again, and a
user who left is removed with exactly the values the destination knows.

Layout 4 (today's) stores the membership as a log of batches (``membership``): each
delivered batch is appended as one row — its identities and their values, added or removed —
and the membership is those rows replayed in order. An append writes at
the end of the file, whatever order the ids come in: a row per user in a primary-key B-tree
(layout 2) scattered shuffled ids over the whole file, ten times the bytes of the data. When
the log holds more than twice the live membership (removed and superseded entries), the next
run's load rewrites it as the membership alone, in one transaction (:meth:`State.members`).

A row spells its identities in one of two forms (``form``): ``lines``, joined by newlines,
when none holds a newline (the usual, and several times cheaper to write and read than JSON);
else ``json``, a JSON array escaped to ASCII (any identity, a lone surrogate too). An added
row's ``vals`` is a JSON array of each identity's values as JSON, or NULL when each identity
is its own one string value (a plain id list's users, or an export mapped by ``user_id``):
then the values are not written twice. Layout 3 was layout 4 without ``form`` (every row
``json``, every added row with its ``vals``).

Older files are migrated on open, in one transaction: layout 3 gains the ``form`` column
(its rows are ``json``); layout 2 (``members(sync_id, key,
vals)``, a row per user) keeps every member; layout 1 (``members(sync_id, key)``, the key
being the mapped value(s)) makes each row a *legacy* member whose identity is learned on the
next run (see :meth:`State.adopt`). A read-only state (a dry run) reads every layout as it is.

The membership advances one delivered batch at a time, each in its own transaction (WAL,
``synchronous=FULL``): the append is the commit point, so whatever stops a run — a failure,
Ctrl-C, SIGKILL, power loss — the stored membership is exactly what was delivered, and the
next run's difference is exactly what is still owed. Secrets never reach the database:
destination settings are identified by a salted hash.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Mapping, Sequence, TypeVar

from ..diagnostics import InputError

try:
    import fcntl
except ImportError:  # not POSIX (Windows): no advisory locks; one run at a time is then the user's care
    fcntl = None  # type: ignore[assignment]

DEFAULT_STATE = Path(".portalspec") / "state.db"
# meta 'layout': 4 = the membership as a log of batches; 3 = the same without its form column;
# 2 = members(key, vals); 1 = members(key)
LAYOUT = "4"
CHUNK = 10_000  # members per row when the log is rewritten (migration, compaction)
# A migrated member whose identity is not known yet: its old key (the mapped values) follows.
LEGACY_PREFIX = "\x00legacy\x00"


class StateError(InputError):
    """The state file cannot be opened or used (a directory, not a database, unwritable)."""


class StateLocked(StateError):
    """Another sync run holds the state file."""

_MEMBERSHIP = """CREATE TABLE IF NOT EXISTS membership (
    id INTEGER PRIMARY KEY,          -- replay order
    sync_id INTEGER NOT NULL REFERENCES syncs (id),
    op TEXT NOT NULL,                -- 'add' (keys now members with vals) | 'remove' (keys no longer members)
    n INTEGER NOT NULL,              -- how many keys
    keys TEXT NOT NULL,              -- identities (LEGACY_PREFIX + old key: not yet known), spelt as form says
    vals TEXT,                       -- add: JSON array, each key's values as JSON ('null': legacy),
                                     -- NULL: each key is its own one string value. remove: NULL
    form TEXT NOT NULL DEFAULT 'json'  -- keys: 'lines' (joined by newlines) | 'json' (a JSON array)
);
CREATE INDEX IF NOT EXISTS membership_sync ON membership (sync_id, id);"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY,
    integration TEXT NOT NULL,
    settings TEXT NOT NULL,          -- salted hash of the destination settings
    cohort_id TEXT NOT NULL,
    list_id TEXT,                    -- JSON: the id as the destination gave it (string or number)
    created TEXT NOT NULL,
    UNIQUE (integration, settings, cohort_id)
);
{members}
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    sync_id INTEGER NOT NULL REFERENCES syncs (id),
    started TEXT NOT NULL,
    ended TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',  -- running | succeeded | unchanged | failed | interrupted | abandoned
    entering INTEGER NOT NULL DEFAULT 0,
    leaving INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    undelivered INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]'
);
""".replace("{members}", _MEMBERSHIP)


_dumps = json.JSONEncoder().encode  # json.dumps without its per-call checks: ASCII, C encoder
_quote = json.encoder.encode_basestring  # a string's values JSON: json.dumps(s, ensure_ascii=False)
_INSERT = "INSERT INTO membership (sync_id, op, n, keys, vals, form) VALUES (?, ?, ?, ?, ?, ?)"


class Identities:
    """The ``vals`` of added identities that are each their own one string value."""

    def __repr__(self) -> str:
        return "IDENTITIES"


IDENTITIES = Identities()
Vals = Sequence[str] | Identities  # each added identity's values as JSON, or IDENTITIES


def _row(sync_id: int, op: str, keys: Sequence[str], vals: Vals | None) -> tuple[Any, ...]:
    """One membership row's parameters, in the cheapest form that spells ``keys`` exactly."""
    stored = None if vals is None or isinstance(vals, Identities) else _dumps(list(vals))
    text = "\n".join(keys)
    if text.count("\n") == len(keys) - 1:  # no identity holds a newline
        return sync_id, op, len(keys), text, stored, "lines"
    return sync_id, op, len(keys), _dumps(list(keys)), stored, "json"


def _insert(db: sqlite3.Connection, row: tuple[Any, ...], keys: Sequence[str]) -> None:
    try:
        db.execute(_INSERT, row)
    except UnicodeEncodeError:  # a lone surrogate is no UTF-8: the ASCII-escaped JSON form spells it
        db.execute(_INSERT, (*row[:3], _dumps(list(keys)), row[4], "json"))


def _own_as_none(names: Sequence[str], vals: list[str]) -> list[str | None]:
    """Stored values JSON, None where it spells the identity itself (a row written as JSON by
    an older layout, or a batch with other values in it), as :meth:`State.membership` gives."""
    quoted = list(map(_quote, names))
    if vals == quoted:
        return [None] * len(vals)
    return [None if v == q else v for v, q in zip(vals, quoted)]


def _identities(form: str, keys: str) -> list[str]:
    if form == "lines":
        return keys.split("\n")
    if form == "json":
        return json.loads(keys)
    # Never guess at a row spelt otherwise: misread, it would lose or resend users.
    raise StateError(f"the sync state holds membership in a form this portalspec does not know ({form!r}); "
                     "it was written by a newer portalspec: use that")

_F = TypeVar("_F", bound=Callable[..., Any])


def _writes(method: _F) -> _F:
    """A state write whose failure — a full disk, a read-only file — is a :class:`StateError`
    saying so, never a sqlite3 traceback. What it did not record is owed to the next run."""
    @functools.wraps(method)
    def wrapper(self: "State", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StateError(f"cannot write the sync state {self.path}: {exc}") from None
    return wrapper  # type: ignore[return-value]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SyncRecord:
    id: int
    integration: str
    cohort_id: str
    list_id: str | int | None


@dataclass(frozen=True)
class RunRecord:
    id: int
    started: str
    ended: str | None
    outcome: str
    entering: int
    leaving: int
    requests: int
    delivered: int
    undelivered: int
    retries: int
    errors: tuple[str, ...]


class State:
    """One state database. Use from one thread (the sync engine's coordinator)."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_STATE, *, readonly: bool = False):
        """Open (creating if need be) the state at ``path``. ``readonly`` (a dry run) touches no
        file at all: a missing state reads as empty, an existing one is read as it is."""
        self.path = os.fspath(path)
        self._lock: IO[str] | None = None
        self.readonly = readonly
        self._layout = LAYOUT  # of the file as read: a read-only state reads layouts 1 and 2 as they are
        if readonly:
            self._salt = self._open_readonly()
            return
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions only
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a committed batch survives power loss
            self._migrate()
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('layout', ?)", (LAYOUT,))
            row = self._db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
            if row is None:
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(16),))
                row = self._db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StateError(f"cannot open the sync state {self.path}: {reason} "
                             "(--state names a SQLite file; its folder is created if missing)") from None
        self._salt = row[0]

    def _open_readonly(self) -> str:
        try:
            if self.path == ":memory:" or not Path(self.path).is_file():
                self._db = sqlite3.connect(":memory:", isolation_level=None)
                self._db.executescript(_SCHEMA)
                return secrets.token_hex(16)
            # immutable: no lock, no -shm file; a -wal file left by a killed run must be read,
            # which a plain read-only connection does (creating nothing when the -shm exists).
            immutable = "" if Path(self.path + "-wal").exists() else "&immutable=1"
            uri = Path(self.path).resolve().as_uri() + "?mode=ro" + immutable
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            self._layout = self._file_layout()
            row = self._db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        except sqlite3.Error as exc:
            raise StateError(f"cannot read the sync state {self.path}: {exc}") from None
        return str(row[0]) if row else secrets.token_hex(16)

    def _file_layout(self) -> str:
        """The layout of the open file, from its tables (a file may predate the 'layout' meta)."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "members" in tables:
            return "2" if "vals" in self._columns("members") else "1"
        if "membership" in tables and "form" not in self._columns("membership"):
            return "3"
        return LAYOUT  # layout 4, or a new file

    def _columns(self, table: str) -> list[str]:
        return [r[1] for r in self._db.execute(f"PRAGMA table_info({table})")]

    def _migrate(self) -> None:
        """Layouts 1, 2 and 3 → 4, in one transaction: every member keeps its values (layout 1:
        under a legacy key, its values unknown until adopted). Nothing else changes."""
        layout = self._file_layout()
        if layout == LAYOUT:
            return
        if layout == "3":  # its rows are the json form; nothing else differs
            with self._transaction():
                self._db.execute("ALTER TABLE membership ADD COLUMN form TEXT NOT NULL DEFAULT 'json'")
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('layout', ?)", (LAYOUT,))
            return
        with self._transaction():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            for statement in _MEMBERSHIP.split(";"):  # not executescript: it would commit
                if statement.strip():
                    self._db.execute(statement)
            syncs = [sync_id for (sync_id,) in self._db.execute("SELECT DISTINCT sync_id FROM members")]
            for sync_id in syncs:
                self._write_chunks(sync_id, self._read_members(sync_id, layout))
            self._db.execute("DROP TABLE members")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('layout', ?)", (LAYOUT,))

    def _read_members(self, sync_id: int, layout: str) -> dict[str, str]:
        """A layout 1 or 2 ``members`` table as layout 3 holds it."""
        if layout == "1":  # the old key *is* the values (member_key's spelling): vals null until adopted
            return {LEGACY_PREFIX + key: "null"
                    for (key,) in self._db.execute("SELECT key FROM members WHERE sync_id = ?", (sync_id,))}
        return dict(self._db.execute("SELECT key, vals FROM members WHERE sync_id = ?", (sync_id,)))

    def _write_chunks(self, sync_id: int, members: Mapping[str, str | None]) -> None:
        """Append ``members`` (values JSON, or None: see :meth:`membership`) as 'add' rows of
        CHUNK, in their order (inside the caller's transaction). Not sorted: a log is appended
        whatever the order, and sorting two million shuffled ids cost more than the writing."""
        keys, vals_all = list(members), list(members.values())
        for i in range(0, len(keys), CHUNK):
            chunk, vals = keys[i:i + CHUNK], vals_all[i:i + CHUNK]
            if vals.count(None) == len(vals):
                _insert(self._db, _row(sync_id, "add", chunk, IDENTITIES), chunk)
                continue
            quoted = list(map(_quote, chunk))
            spelt = [q if v is None else v for v, q in zip(vals, quoted)]
            _insert(self._db, _row(sync_id, "add", chunk, IDENTITIES if spelt == quoted else spelt), chunk)

    def close(self) -> None:
        self.unlock()
        self._db.close()

    def lock(self) -> None:
        """Claim the state for one sync run: two runs on one state would send the same users
        twice and race each other's membership. Raises :class:`StateLocked` if taken."""
        if self.path == ":memory:" or self._lock is not None or fcntl is None:
            return
        try:
            handle = open(self.path + ".lock", "a+")
        except OSError as exc:
            raise StateError(f"cannot lock the sync state {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StateLocked(f"another sync is running on {self.path}; wait for it to finish") from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None and fcntl is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "State":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def settings_key(self, settings: Mapping[str, Any]) -> str:
        """A salted hash of the destination settings: tells destinations apart, reveals nothing."""
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256((self._salt + text).encode("utf-8")).hexdigest()

    # --- syncs ----------------------------------------------------------------------
    @_writes
    def sync_for(self, integration: str, settings: Mapping[str, Any], cohort_id: str) -> SyncRecord:
        key = self.settings_key(settings)
        self._db.execute("INSERT OR IGNORE INTO syncs (integration, settings, cohort_id, created) VALUES (?, ?, ?, ?)",
                         (integration, key, cohort_id, _now()))
        row = self._db.execute("SELECT id, list_id FROM syncs WHERE integration = ? AND settings = ? AND cohort_id = ?",
                               (integration, key, cohort_id)).fetchone()
        return SyncRecord(row[0], integration, cohort_id, None if row[1] is None else json.loads(row[1]))

    def find_sync(self, integration: str, settings: Mapping[str, Any], cohort_id: str) -> SyncRecord | None:
        """Like :meth:`sync_for` but never creates one (for dry runs)."""
        row = self._db.execute("SELECT id, list_id FROM syncs WHERE integration = ? AND settings = ? AND cohort_id = ?",
                               (integration, self.settings_key(settings), cohort_id)).fetchone()
        return None if row is None else SyncRecord(row[0], integration, cohort_id,
                                                   None if row[1] is None else json.loads(row[1]))

    @_writes
    def set_list_id(self, sync_id: int, list_id: str | int) -> None:
        self._db.execute("UPDATE syncs SET list_id = ? WHERE id = ?", (json.dumps(list_id), sync_id))

    # --- membership -----------------------------------------------------------------
    def members(self, sync_id: int) -> dict[str, str]:
        """identity → the JSON of the values it was delivered with (legacy keys included)."""
        return {key: _quote(key) if vals is None else vals for key, vals in self.membership(sync_id).items()}

    @_writes
    def membership(self, sync_id: int) -> dict[str, str | None]:
        """:meth:`members` as a sync reads it: None for a member who is its own one string value
        (a plain id list's), whose values JSON would only spell the identity again.

        The log replayed in order. When it holds more than twice the live membership (or far
        more rows than it needs), a writable state rewrites it as that membership, in one
        transaction, before returning: the log's size stays linear in the membership's."""
        if self._layout in ("1", "2"):  # read-only, not migrated: what migrating would make of it
            return dict(self._read_members(sync_id, self._layout))
        held: dict[str, str | None] = {}
        entries = rows = 0
        form = "form" if self._layout == LAYOUT else "'json'"  # a read-only layout 3 file: every row json
        for op, keys, vals, spelt in self._db.execute(
                f"SELECT op, keys, vals, {form} FROM membership WHERE sync_id = ? ORDER BY id", (sync_id,)):
            names = _identities(spelt, keys)
            rows += 1
            entries += len(names)
            if op == "add":
                own = itertools.repeat(None) if vals is None else _own_as_none(names, json.loads(vals))
                held.update(zip(names, own))
            else:
                pop = held.pop
                for name in names:
                    pop(name, None)
        if not self.readonly and (entries > 2 * len(held) or rows > 2 * (len(held) // CHUNK + 1) + 64):
            with self._transaction():
                self._db.execute("DELETE FROM membership WHERE sync_id = ?", (sync_id,))
                self._write_chunks(sync_id, held)
        return held

    @_writes
    def record_delivered(self, sync_id: int, added: Iterable[tuple[str, str]] = (),
                         removed: Iterable[str] = ()) -> None:
        """One delivered batch, in one transaction — one appended row each way: its users are
        now members with these values (``added``: identity, values JSON), or no longer members
        (``removed``: identities)."""
        pairs = list(added)
        self.record_changes(sync_id, [k for k, _ in pairs], [v for _, v in pairs], list(removed))

    @_writes
    def record_changes(self, sync_id: int, keys: Sequence[str] = (), vals: Vals = (),
                       removed: Sequence[str] = ()) -> None:
        """:meth:`record_delivered` with the added identities and their values JSON apart;
        ``vals`` is :data:`IDENTITIES` when each identity is its own one string value."""
        if not isinstance(vals, Identities) and len(keys) != len(vals):
            raise ValueError("an added identity without its values")
        with self._transaction():
            if keys:
                self._append(sync_id, "add", keys, vals)
            if removed:
                self._append(sync_id, "remove", removed)

    def _append(self, sync_id: int, op: str, keys: Sequence[str], vals: Vals | None = None) -> None:
        _insert(self._db, _row(sync_id, op, keys, vals), keys)

    @_writes
    def adopt(self, sync_id: int, pairs: Iterable[tuple[str, str, str]]) -> None:
        """Give legacy members their identities: (legacy key, identity, values JSON) each. Nothing
        is sent for this — the destination holds these users already."""
        triples = list(pairs)
        if not triples:
            return
        with self._transaction():
            self._append(sync_id, "remove", [old for old, _, _ in triples])
            self._append(sync_id, "add", [new for _, new, _ in triples], [vals for _, _, vals in triples])

    @_writes
    def replace_members(self, sync_id: int, members: Iterable[tuple[str, str]]) -> None:
        """Store a whole snapshot (identity, values JSON) at once, in one transaction."""
        snapshot = dict(members)
        with self._transaction():
            self._db.execute("DELETE FROM membership WHERE sync_id = ?", (sync_id,))
            self._write_chunks(sync_id, snapshot)

    # --- runs -----------------------------------------------------------------------
    @_writes
    def start_run(self, sync_id: int) -> int:
        # A run still 'running' was killed (SIGKILL, power loss): its delivered batches are in
        # the membership already; the rest is owed and this run sends it.
        self._db.execute("UPDATE runs SET outcome = 'abandoned' WHERE sync_id = ? AND outcome = 'running'",
                         (sync_id,))
        cursor = self._db.execute("INSERT INTO runs (sync_id, started) VALUES (?, ?)", (sync_id, _now()))
        return int(cursor.lastrowid or 0)

    @_writes
    def finish_run(self, run_id: int, outcome: str, *, entering: int, leaving: int, requests: int,
                   delivered: int, undelivered: int, retries: int, errors: Iterable[str]) -> None:
        self._db.execute(
            "UPDATE runs SET ended = ?, outcome = ?, entering = ?, leaving = ?, requests = ?, delivered = ?, "
            "undelivered = ?, retries = ?, errors = ? WHERE id = ?",
            (_now(), outcome, entering, leaving, requests, delivered, undelivered, retries,
             json.dumps(list(errors)[:50]), run_id))

    def runs(self, sync_id: int) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT id, started, ended, outcome, entering, leaving, requests, delivered, undelivered, retries, errors "
            "FROM runs WHERE sync_id = ? ORDER BY id", (sync_id,))
        return [RunRecord(run_id, started, ended, outcome, entering, leaving, requests, delivered, undelivered,
                          retries, tuple(json.loads(errors)))
                for (run_id, started, ended, outcome, entering, leaving, requests, delivered, undelivered,
                     retries, errors) in rows]

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


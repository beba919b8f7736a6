"""The state of ``portalspec serve``: lists and their members, per-user traits, and the log of
received requests, in SQLite — ``:memory:`` by default, a file to keep it across runs.

One implementation for both. The server is threaded, so one connection is shared
(``check_same_thread=False``) behind a lock: every method is one short transaction, and
a batch's membership changes are applied together or not at all.

A list id is kept twice: as text (``key``, what URLs and bodies compare against) and as
JSON (``id_json``), so an integer id is answered as an integer.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import sqlite3
import threading
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .diagnostics import InputError
from .template import as_text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists (
    seq INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,        -- the id as text
    id_json TEXT NOT NULL,           -- the id as answered (string or number)
    created TEXT NOT NULL,
    request TEXT NOT NULL,           -- the create_list body (secrets masked), JSON
    variables TEXT NOT NULL DEFAULT '{}'  -- the cohort it was created for ($amp_cohort_name …), JSON
);
CREATE TABLE IF NOT EXISTS members (
    seq INTEGER PRIMARY KEY,         -- order of arrival (the rowid): a batch is appended
    list_key TEXT NOT NULL REFERENCES lists (key),
    key TEXT NOT NULL,               -- the first mapping variable's value; unique per list,
                                     -- kept so by the store's in-memory index (Store._index)
    "values" TEXT NOT NULL           -- every mapped value, JSON; or, for a member whose one value
                                     -- is its key, that value's variable name (never JSON: no '{')
);
CREATE TABLE IF NOT EXISTS traits (
    user TEXT NOT NULL,
    trait TEXT NOT NULL,
    value TEXT NOT NULL,             -- JSON (true / false)
    "values" TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (user, trait)
);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY,
    record TEXT NOT NULL             -- JSON: time, method, path, endpoint, status, headers, body…
);
"""


REQUEST_LOG = 1000  # requests kept in the log by default: the last ones, a ring


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def member_key(value: Any) -> str:
    """The text a member (or list) is known by: strings as they are, other JSON as JSON."""
    return as_text(value) if isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)


_c_encode = json.encoder.encode_basestring  # == json.dumps(str, ensure_ascii=False)


def _values_of(key: str, text: str) -> Any:
    """A member's mapped values, from its row: JSON, or the name of the one value its key is."""
    return json.loads(text) if text.startswith("{") else {text: key}


def _column_json(name: str, column: Sequence[str]) -> list[str]:
    """``json.dumps({name: value}, ensure_ascii=False)`` of each string, by the C encoder."""
    prefix = "{" + json.dumps(name, ensure_ascii=False) + ": "
    return [prefix + text + "}" for text in map(_c_encode, column)]


def _values_json(rows: list[dict[str, Any]]) -> list[str]:
    """``json.dumps(values, ensure_ascii=False)`` of each; for the common one string value, by
    the C string encoder mapped over the batch."""
    names = {tuple(values) for values in rows}
    if len(names) == 1:
        (only,) = names
        if len(only) == 1:
            name = only[0]
            column = [values[name] for values in rows]
            if all(type(v) is str for v in column):
                return _column_json(name, column)
    return [json.dumps(values, ensure_ascii=False) for values in rows]


def _has_json(db: sqlite3.Connection) -> bool:
    """Whether this SQLite has its JSON functions (built in since 3.38; an option before)."""
    try:
        db.execute("SELECT json_quote('x'), key, value FROM json_each('[1]')").fetchall()
    except sqlite3.OperationalError:
        return False
    return True


_LONG = 256  # keys longer than this are indexed by a digest, so no body stays held by the index


def _index_key(key: str) -> str | bytes:
    return key if len(key) <= _LONG else hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=20).digest()


class _Identities:
    """A list's members by each mapped value they hold: (variable, value as text) → keys."""

    def __init__(self, rows: Iterable[tuple[str, str]]):
        self.values: dict[str, dict[str, str]] = {}
        self.by_value: dict[tuple[str, str], set[str]] = {}
        for key, text in rows:
            values = _values_of(key, text)
            if not isinstance(values, dict):
                continue
            self.values[key] = {name: member_key(value) for name, value in values.items()}
            for name, value in self.values[key].items():
                self.by_value.setdefault((name, value), set()).add(key)

    def matching(self, values: Mapping[str, Any]) -> list[str]:
        """The keys of members sharing a variable with ``values`` and agreeing on all they share."""
        wanted = {name: member_key(value) for name, value in values.items()}
        candidates: set[str] = set()
        for pair in wanted.items():
            candidates |= self.by_value.get(pair, set())
        return sorted(key for key in candidates
                      if all(self.values[key].get(name, value) == value for name, value in wanted.items()))


class Store:
    """Lists, members, traits and the request log of one served integration."""

    def __init__(self, path: str = ":memory:", integration: str | None = None, *,
                 request_log: int = REQUEST_LOG):
        if request_log < 1:
            raise InputError(f"the request log must keep at least 1 request, not {request_log}")
        self.path = path
        self.request_log = request_log
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise InputError(f"{path}: cannot use as a state file: {exc}") from None
        self._lock = threading.RLock()
        self._sizes: dict[str, int] = {}  # list key -> members, once counted
        # list key -> {member key: rowid}, read once from the table, then kept in step with it.
        # It replaces a (list_key, key) B-tree index: a batch of shuffled ids inserted into
        # one costs a random page each (superlinear, 4 s of 5 for 1M users); appended in seq
        # order, a batch is written page after page. State files from before (a primary key
        # on (list_key, key), seq a plain column) work as they are: rows are found by rowid.
        self._indexes: dict[str, dict[str | bytes, int]] = {}
        if not any(name == "variables" for _, name, *_ in self._db.execute("PRAGMA table_info(lists)")):
            # a state file from before find_list: its lists were made for no known cohort
            self._db.execute("ALTER TABLE lists ADD COLUMN variables TEXT NOT NULL DEFAULT '{}'")
        seq_is_rowid = any(name == "seq" and pk for _, name, _, _, _, pk in self._db.execute("PRAGMA table_info(members)"))
        self._insert_member = ('INSERT INTO members (seq, list_key, key, "values") VALUES (?, ?, ?, ?)' if seq_is_rowid
                               else 'INSERT INTO members (rowid, seq, list_key, key, "values") VALUES (?1, ?1, ?2, ?3, ?4)')
        # A batch of new members whose one value is their key, expanded by SQLite from one JSON
        # array (json_each): a row each without a Python tuple each, a third of executemany's
        # time; their values are stored as the variable's name alone (see _values_of).
        row = "?2, value, ?3 FROM json_each(?4)"
        self._insert_column = (
            f'INSERT INTO members (seq, list_key, key, "values") SELECT ?1 + key, {row}' if seq_is_rowid
            else f'INSERT INTO members (rowid, seq, list_key, key, "values") SELECT ?1 + key, ?1 + key, {row}'
        ) if _has_json(self._db) else None
        # members and traits share one arrival counter, continued from a file's earlier runs
        self._seq = int(self._scalar("SELECT MAX((SELECT COALESCE(MAX(seq), 0) FROM members), "
                                     "(SELECT COALESCE(MAX(seq), 0) FROM traits))"))
        if integration is not None:
            # One file holds one integration's destination: another's lists would only confuse.
            owner = self._scalar("SELECT value FROM meta WHERE key = 'integration'")
            if owner is None:
                self._db.execute("INSERT INTO meta VALUES ('integration', ?)", (integration,))
            elif owner != integration:
                self.close()
                raise InputError(f"{path} holds the state of integration '{owner}', not '{integration}'; "
                                 "use another --state file")

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- lists ----------------------------------------------------------------------
    def next_list_number(self) -> int:
        with self._lock:
            return int(self._scalar("SELECT COALESCE(MAX(seq), 0) FROM lists")) + 1

    def create_list(self, list_id: Any, request: Any, variables: Mapping[str, Any] | None = None) -> bool:
        """Record a list (and the cohort ``variables`` it was created for); False (and nothing
        changed) if one with that id exists."""
        with self._lock:
            try:
                self._db.execute("INSERT INTO lists (key, id_json, created, request, variables) VALUES (?, ?, ?, ?, ?)",
                                 (member_key(list_id), json.dumps(list_id), _now(), json.dumps(request),
                                  json.dumps(dict(variables or {}), ensure_ascii=False)))
            except sqlite3.IntegrityError:
                return False
            return True

    def lists(self) -> list[tuple[Any, dict[str, Any]]]:
        """(id, cohort variables) of every list, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id_json, variables FROM lists ORDER BY seq").fetchall()
        return [(json.loads(id_json), json.loads(variables)) for id_json, variables in rows]

    def has_list(self, key: str) -> bool:
        with self._lock:
            return self._scalar("SELECT 1 FROM lists WHERE key = ?", (key,)) is not None

    def list_id(self, key: str) -> Any:
        with self._lock:
            text = self._scalar("SELECT id_json FROM lists WHERE key = ?", (key,))
            return None if text is None else json.loads(text)

    def only_list(self) -> str | None:
        """The key of the one list there is (for definitions whose add/remove omit $list_id)."""
        with self._lock:
            rows = self._db.execute("SELECT key FROM lists LIMIT 2").fetchall()
            return rows[0][0] if len(rows) == 1 else None

    def add_members(self, list_key: str, members: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Add (or refresh) members; the list's size after.

        A member already there keeps its place (seq) and takes the values it came with last;
        a key seen twice in one batch counts once, at its first place."""
        rows = members if isinstance(members, list) else list(members)
        return self.add_texts(list_key, [key for key, _ in rows], _values_json([values for _, values in rows]))

    def add_column(self, list_key: str, name: str, column: list[str]) -> int:
        """:meth:`add_members` of members whose one value is a string, ``name``: their key."""
        return self.add_texts(list_key, column, None, name)

    def add_texts(self, list_key: str, keys: Sequence[str], texts: Sequence[str] | None, name: str = "") -> int:
        """:meth:`add_members` with each member's values as their JSON text already (None: each
        member's one value is its key, a string, under ``name``); the size after.

        New members are appended (rowid = seq, the order of arrival) by one statement; members
        already there are refreshed by rowid."""
        with self._lock, self._counted(list_key), self._db:
            self._db.execute("BEGIN")
            size = self._size(list_key)
            index = self._index(list_key)
            first = self._seq + 1
            self._seq += len(keys)
            short = max(map(len, keys), default=0) <= _LONG
            # The usual batch: every key new, none twice; indexed here (taken back out if one repeats).
            if short and index.keys().isdisjoint(keys) and self._indexed_if_distinct(index, keys, first):
                seqs: Sequence[int] = range(first, first + len(keys))
                if texts is None and self._insert_column is not None and not name.startswith("{"):
                    self._db.execute(self._insert_column, (first, list_key, name,
                                                           "[" + ",".join(map(_c_encode, keys)) + "]"))
                else:
                    self._db.executemany(self._insert_member, zip(seqs, itertools.repeat(list_key), keys,
                                                                  _column_json(name, keys) if texts is None else texts))
                self._sizes[list_key] = size + len(keys)
                return size + len(keys)
            if texts is None:
                texts = _column_json(name, keys)
            last = dict(zip(keys, texts))  # each key's last values, at its first place
            place: dict[str, int] = {}
            for i, key in enumerate(keys):
                place.setdefault(key, first + i)
            fresh = [key for key in place if _index_key(key) not in index]
            seqs = [place[key] for key in fresh]
            fresh_texts = [last[key] for key in fresh]
            refresh = [(last[key], index[_index_key(key)]) for key in place if _index_key(key) in index]
            self._db.executemany(self._insert_member, zip(seqs, itertools.repeat(list_key), fresh, fresh_texts))
            if refresh:
                self._db.executemany('UPDATE members SET "values" = ? WHERE rowid = ?', refresh)
            index.update(zip(fresh if short else map(_index_key, fresh), seqs))
            self._sizes[list_key] = size + len(fresh)
            return size + len(fresh)

    @staticmethod
    def _indexed_if_distinct(index: dict[str | bytes, int], keys: Sequence[str], first: int) -> bool:
        """Index ``keys`` (none indexed yet) at seqs from ``first`` and say True; False, with the
        index as it was, if a key repeats within them. One probe a key, where a check took two."""
        before = len(index)
        index.update(zip(keys, range(first, first + len(keys))))
        if len(index) == before + len(keys):
            return True
        for key in keys:
            index.pop(key, None)
        return False

    def _index(self, list_key: str) -> dict[str | bytes, int]:
        if list_key not in self._indexes:  # read once, then kept
            self._indexes[list_key] = {_index_key(key): rowid for key, rowid in self._db.execute(
                "SELECT key, rowid FROM members WHERE list_key = ?", (list_key,))}
        return self._indexes[list_key]

    @contextlib.contextmanager
    def _counted(self, list_key: str) -> Iterator[None]:
        """A change of ``list_key``'s members: if it fails (rolled back), its kept size is forgotten."""
        try:
            yield
        except BaseException:
            self._sizes.pop(list_key, None)
            self._indexes.pop(list_key, None)
            raise

    def _size(self, list_key: str) -> int:
        if list_key not in self._sizes:  # counted once, then kept
            self._sizes[list_key] = int(self._scalar("SELECT COUNT(*) FROM members WHERE list_key = ?", (list_key,)))
        return self._sizes[list_key]

    def remove_members(self, list_key: str, members: Iterable[str | tuple[str, Mapping[str, Any]]]
                       ) -> tuple[int, int]:
        """Remove members (absent ones are no error: removing is idempotent); how many of
        ``members`` were members, and the size after.

        A member to remove is its key, or its key and mapped values. A key no member has
        falls back to identity: the members whose stored values share a mapping variable
        with the values given, and agree on every one they share — so remove items that
        carry another id than the add items did (only ``$user_id`` where the adds carried
        ``$email`` first) still find the user."""
        with self._lock, self._counted(list_key), self._db:
            self._db.execute("BEGIN")
            size = self._size(list_key)
            rowids = self._index(list_key)
            removed = deleted = 0
            index: _Identities | None = None  # built at the first miss, once per batch
            for member in members:
                key, values = (member, {}) if isinstance(member, str) else member
                rowid = rowids.pop(_index_key(key), None)
                if rowid is not None:
                    self._db.execute("DELETE FROM members WHERE rowid = ?", (rowid,))
                    removed += 1
                    deleted += 1
                    continue
                if not values:
                    continue
                if index is None:
                    index = _Identities(self._db.execute(
                        'SELECT key, "values" FROM members WHERE list_key = ?', (list_key,)).fetchall())
                gone = 0
                for found in index.matching(values):
                    rowid = rowids.pop(_index_key(found), None)
                    if rowid is not None:
                        gone += self._db.execute("DELETE FROM members WHERE rowid = ?", (rowid,)).rowcount
                removed += gone > 0
                deleted += gone
            self._sizes[list_key] = size - deleted
            return removed, size - deleted

    # --- traits (property-based) ----------------------------------------------------
    def set_traits(self, rows: Iterable[tuple[str, str, Any, dict[str, Any]]]) -> int:
        """Set ``trait`` of ``user`` to a value, for each (user, trait, value, mapped values)."""
        count = 0
        with self._lock, self._db:
            self._db.execute("BEGIN")
            for user, trait, value, values in rows:
                self._seq += 1
                count += 1
                self._db.execute(
                    'INSERT INTO traits (user, trait, value, "values", seq) VALUES (?, ?, ?, ?, ?) '
                    'ON CONFLICT (user, trait) DO UPDATE SET value = excluded.value, "values" = excluded."values"',
                    (user, trait, json.dumps(value), json.dumps(values, ensure_ascii=False), self._seq))
        return count

    # --- requests -------------------------------------------------------------------
    def record_request(self, record: dict[str, Any]) -> int:
        """Log a request; only the last :attr:`request_log` are kept (a ring: the oldest go)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            cursor = self._db.execute("INSERT INTO requests (record) VALUES (?)",
                                      (json.dumps({"time": _now(), **record}, ensure_ascii=False),))
            seq = int(cursor.lastrowid or 0)
            # seq only grows (the newest row is never deleted), so the last N are seq > seq - N
            self._db.execute("DELETE FROM requests WHERE seq <= ?", (seq - self.request_log,))
            return seq

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, record FROM requests ORDER BY seq").fetchall()
        return [{"seq": seq, **json.loads(record)} for seq, record in rows]

    # --- the whole state ------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Every list with its members, and every user with its traits, as JSON-ready data."""
        with self._lock:
            lists = self._db.execute("SELECT key, id_json, created, request FROM lists ORDER BY seq").fetchall()
            members = self._db.execute('SELECT list_key, key, "values" FROM members ORDER BY seq').fetchall()
            traits = self._db.execute('SELECT user, trait, value, "values" FROM traits ORDER BY seq').fetchall()
        by_list: dict[str, list[dict[str, Any]]] = {}
        for list_key, key, values in members:
            by_list.setdefault(list_key, []).append({"key": key, "values": _values_of(key, values)})
        users: dict[str, dict[str, Any]] = {}
        for user, trait, value, values in traits:
            entry = users.setdefault(user, {"key": user, "values": {}, "traits": {}})
            entry["values"] = json.loads(values)
            entry["traits"][trait] = json.loads(value)
        return {
            "lists": [{"id": json.loads(id_json), "created": created, "request": json.loads(request),
                       "size": len(by_list.get(key, ())), "members": by_list.get(key, [])}
                      for key, id_json, created, request in lists],
            "users": list(users.values()),
        }

"""The gallery's catalogue: an embedded SQLite index of the stacks under the output root, with
cached thumbnails, so a card with thousands of stacks lists, pages and searches quickly.

It is a cache and never the only copy of anything: every row is rebuilt from its folder's
``stack.json`` (through the gallery's summary, i.e. :func:`rig.manifest.read_manifest`) whenever
the manifest's or the folder's modification time or size changes, rows of folders that are gone
are dropped, and the whole file may be deleted at any time (it is rebuilt on the next listing).
It lives in ``$XDG_CACHE_HOME/rig/catalogue/`` (one file per output root), never on the card.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_DEPTH = 5
RESCAN_AFTER_S = 2.0  # a listing has the folders re-checked (in the background) when the last check is older
BACKGROUND = True  # False: every due check runs before the listing answers (bench/gallery_bench.py)
THUMBS_MAX = 20_000  # cached thumbnails kept (least recently made dropped first)
GROUPS = ("date", "specimen", "profile", "session")
Summary = Callable[[str, Path], dict[str, Any]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS stacks (
    id TEXT PRIMARY KEY,
    stamp TEXT NOT NULL,
    started TEXT NOT NULL,
    day TEXT NOT NULL,
    specimen TEXT NOT NULL,
    session TEXT NOT NULL,
    profile TEXT NOT NULL,
    search TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stacks_started ON stacks (started DESC, id DESC);
CREATE INDEX IF NOT EXISTS stacks_specimen ON stacks (specimen, started DESC);
CREATE INDEX IF NOT EXISTS stacks_profile ON stacks (profile, started DESC);
CREATE INDEX IF NOT EXISTS stacks_session ON stacks (session, started DESC);
CREATE TABLE IF NOT EXISTS thumbs (key TEXT PRIMARY KEY, made REAL NOT NULL, data BLOB NOT NULL);
"""


@dataclass(frozen=True)
class Query:
    """A gallery listing: free-text search, filters, grouping (sort order) and the page."""

    q: str = ""
    specimen: str = ""
    profile: str = ""
    session: str = ""
    date_from: str = ""  # YYYY-MM-DD, inclusive
    date_to: str = ""
    group: str = "date"
    page: int = 1
    per_page: int = 500


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rig" / "catalogue"


class Catalogue:
    """The SQLite index of one output root. Thread-safe (one connection, one lock)."""

    def __init__(self, root: Path, summary: Summary, path: Path | None = None) -> None:
        self.root = root
        self._summary = summary
        key = hashlib.sha256(str(os.path.realpath(root)).encode()).hexdigest()[:16]
        self.path = path or cache_dir() / f"{key}.sqlite"
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._scanned = 0.0
        self._generation: Any = None
        self._scan_lock = threading.Lock()  # one folder check at a time
        self._checked_once = False
        self._closed = False
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------- database
    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            db = self._open(self.path)
        except (sqlite3.DatabaseError, OSError) as exc:  # damaged: made again (it is only a cache)
            log.warning("catalogue %s unusable (%s); building it again", self.path, exc)
            for leftover in (self.path, *self.path.parent.glob(self.path.name + "-*")):
                leftover.unlink(missing_ok=True)
            try:
                db = self._open(self.path)
            except (sqlite3.DatabaseError, OSError):
                db = self._open(Path(":memory:"))
        self._db = db
        self._closed = False
        self._scanned = 0.0
        self._checked_once = False
        return db

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
            if row is None or row[0] != str(SCHEMA_VERSION):
                db.executescript("DELETE FROM stacks; DELETE FROM thumbs;")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        db.execute("BEGIN")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close the database (idempotent); a background check still running writes nothing."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None

    # ------------------------------------------------------------- keeping it in step
    def refresh(self, force: bool = False) -> int:
        """Bring the index in step with the folders (only changed stacks are re-read); returns how
        many rows changed. Skipped when the last check is younger than :data:`RESCAN_AFTER_S`.
        The folders are read outside the database lock, so listings go on meanwhile."""
        if not force and time.monotonic() - self._scanned < RESCAN_AFTER_S:
            return 0
        with self._scan_lock:
            started = time.monotonic()
            root = Path(os.path.realpath(self.root))
            found = dict(_scan(root)) if root.is_dir() else {}
            with self._lock:
                known = dict(self._connect().execute("SELECT id, stamp FROM stacks").fetchall())
            fresh = [
                (sid, stamp, self._summary(sid, root / sid)) for sid, stamp in found.items() if known.get(sid) != stamp
            ]
            gone = known.keys() - found.keys()
            with self._lock:
                if self._closed:
                    return 0
                with self._transaction() as tx:
                    tx.executemany("DELETE FROM stacks WHERE id = ?", [(sid,) for sid in gone])
                    for sid, stamp, summary in fresh:
                        self._store(tx, sid, stamp, summary)
            self._scanned = started
            return len(gone) + len(fresh)

    def touch(self, sid: str | None) -> None:
        """Re-read one stack now (the rig saved a frame into it, ended its run, merged it, changed
        its specimen, deleted it); the other folders are left to the next check."""
        if not sid:
            return
        root = Path(os.path.realpath(self.root))
        folder = root / sid
        try:
            manifest = os.stat(folder / "stack.json", follow_symlinks=False)
            stamp = f"{manifest.st_mtime_ns}:{manifest.st_size}:{os.stat(folder, follow_symlinks=False).st_mtime_ns}"
            summary: dict[str, Any] | None = self._summary(sid, folder)
        except OSError:
            stamp, summary = "", None
        with self._lock:
            if self._closed:
                return
            with self._transaction() as tx:
                if summary is None:
                    tx.execute("DELETE FROM stacks WHERE id = ?", (sid,))
                else:
                    self._store(tx, sid, stamp, summary)

    def changed(self, generation: Any, *stacks: str | None) -> None:
        """Tell the catalogue what the rig is doing (run, frames saved, merge state); when that
        differs from last time, ``stacks`` (the run's and the merge's) are re-read at once."""
        if generation != self._generation:
            self._generation = generation
            for sid in stacks:
                self.touch(sid)

    def forget(self) -> None:
        """Make the next listing re-check every folder before it answers."""
        self._scanned = 0.0
        self._checked_once = False

    def _fresh_enough(self) -> None:
        """The first listing (and one after :meth:`forget`) checks the folders before it answers;
        later ones answer from the index and, when the last check is older than
        :data:`RESCAN_AFTER_S`, have the folders checked in the background (changes made outside
        the rig show up a moment later; the rig's own are re-read at once by :meth:`changed`)."""
        if not self._checked_once or not BACKGROUND:
            self.refresh(force=not self._checked_once)
            self._checked_once = True
            return
        if time.monotonic() - self._scanned < RESCAN_AFTER_S or self._scan_lock.locked():
            return
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=self._background, name="rig-catalogue", daemon=True)
            self._worker.start()

    def _background(self) -> None:
        try:
            self.refresh()
        except Exception:  # noqa: BLE001 - a cache: log it, the next listing tries again
            log.exception("catalogue check of %s failed", self.root)

    @staticmethod
    def _store(tx: sqlite3.Connection, sid: str, stamp: str, summary: dict[str, Any]) -> None:
        specimen = summary.get("specimen") or {}
        words = [
            sid,
            *(str(v) for v in specimen.values() if v),
            summary.get("profile_name") or "",
            summary.get("outcome") or "",
        ]
        started = summary.get("started") or ""
        tx.execute(
            "INSERT OR REPLACE INTO stacks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sid,
                stamp,
                started,
                started[:10],
                (specimen.get("name") or "").casefold(),
                specimen.get("session") or "",
                summary.get("profile_name") or "",
                " ".join(words).casefold(),
                json.dumps(summary),
            ),
        )

    # ------------------------------------------------------------- reading
    def query(self, query: Query) -> tuple[list[dict[str, Any]], int]:
        """One page of stacks matching ``query`` and how many match in all."""
        self._fresh_enough()
        where, args = ["1"], []
        if query.q:
            for word in query.q.casefold().split()[:8]:
                where.append("search LIKE ? ESCAPE '\\'")
                args.append(f"%{_like(word)}%")
        for column, value in (("profile", query.profile), ("session", query.session)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if query.specimen:
            where.append("specimen = ?")
            args.append(query.specimen.casefold())
        if query.date_from:
            where.append("day >= ?")
            args.append(query.date_from)
        if query.date_to:
            where.append("day <= ?")
            args.append(query.date_to)
        order = {
            "date": "started DESC, id DESC",
            "specimen": "specimen = '', specimen, started DESC, id DESC",
            "profile": "profile, started DESC, id DESC",
            "session": "session = '', session, started DESC, id DESC",
        }[query.group if query.group in GROUPS else "date"]
        sql_where = " AND ".join(where)
        with self._lock:
            db = self._connect()
            total = db.execute(f"SELECT count(*) FROM stacks WHERE {sql_where}", args).fetchone()[0]
            rows = db.execute(
                f"SELECT summary FROM stacks WHERE {sql_where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*args, query.per_page, (query.page - 1) * query.per_page],
            ).fetchall()
        return [json.loads(r[0]) for r in rows], int(total)

    def facets(self) -> dict[str, list[str]]:
        """The sessions and profiles present (for the gallery's filters), as of the last refresh."""
        with self._lock:
            db = self._connect()
            out: dict[str, list[str]] = {}
            for key, column in (("sessions", "session"), ("profiles", "profile")):
                rows = db.execute(f"SELECT DISTINCT {column} FROM stacks WHERE {column} != '' ORDER BY 1 LIMIT 500")
                out[key] = [r[0] for r in rows]
        return out

    # ------------------------------------------------------------- thumbnails
    def thumb(self, key: str) -> bytes | None:
        with self._lock:
            row = self._connect().execute("SELECT data FROM thumbs WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def keep_thumb(self, key: str, data: bytes) -> None:
        with self._lock, self._transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO thumbs VALUES (?, ?, ?)", (key, time.time(), data))
            count = tx.execute("SELECT count(*) FROM thumbs").fetchone()[0]
            if count > THUMBS_MAX:
                tx.execute(
                    "DELETE FROM thumbs WHERE key IN (SELECT key FROM thumbs ORDER BY made LIMIT ?)",
                    (count - THUMBS_MAX,),
                )


def _scan(root: Path) -> Iterator[tuple[str, str]]:
    """(stack id, change stamp) for every run folder under ``root``: the stamp changes when its
    ``stack.json`` or the folder's own entries change (the manifest is replaced atomically, which
    changes both). A run folder's files are never listed: two ``stat`` calls per stack. Hidden
    folders and symlinks are skipped."""
    pending: list[tuple[Path, int]] = [(root, 0)]
    while pending:
        folder, depth = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            path = Path(entry.path)
            try:
                manifest = os.stat(path / "stack.json", follow_symlinks=False)
            except OSError:
                if depth + 1 < MAX_DEPTH:
                    pending.append((path, depth + 1))
                continue
            if not stat.S_ISREG(manifest.st_mode):
                continue
            try:
                own = entry.stat(follow_symlinks=False).st_mtime_ns
            except OSError:
                continue
            yield path.relative_to(root).as_posix(), f"{manifest.st_mtime_ns}:{manifest.st_size}:{own}"


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

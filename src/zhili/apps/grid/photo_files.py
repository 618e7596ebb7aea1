"""Photo files and the transactions of their rows: a file written for an attachment whose
transaction does not commit is removed again, and a sweep removes what a crash left.

Storage is by content (``attachments``), so one file can serve rows of many events, and
uploads still in flight. Nothing is deleted on a hunch:

* only files this transaction *created* are candidates (one that was already there is
  someone else's), and only when no committed ``Attachment`` names their digest;
* a candidate is first renamed aside, then the database asked again. An upload that
  reused the file and committed before that question gets it put back; one committing
  after finds it gone and writes it again from the bytes it still holds. A committed row
  never loses its file to a concurrent rollback or sweep.

Both run in SQLAlchemy session events when the outermost transaction ends (commit,
rollback or close), so every caller of ``store_photos`` — API, pages, scripts — is covered
without a try/except of its own. A process killed between write and commit leaves its
files behind: :func:`sweep_orphan_photos` removes those no row names that are older than a
grace period (an upload in flight is younger), and stale temporary files.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.orm import Session, SessionTransaction

from zhili.apps.grid.event_models import Attachment
from zhili.clock import utcnow

log = logging.getLogger("zhili.grid.photos")

#: files younger than this are left by the orphan sweep: their upload may yet commit
ORPHAN_GRACE = dt.timedelta(hours=1)
_KEY = "zhili.grid.photo_files"
_STORED = re.compile(r"[0-9a-f]{64}\.(?:jpg|png|webp)")
_ASIDE = re.compile(r"\.discard-[0-9a-f]+-([0-9a-f]{64}\.(?:jpg|png|webp))")
_PARTIAL = re.compile(r"\.upload-.*\.part")
_FANOUT = re.compile(r"[0-9a-f]{2}")
_CHUNK = 500

Bind = Engine | Connection


@dataclass
class _Pending:
    """The photo files of one transaction: those it created (digest by path), and all its
    rows rely on, with the bytes to write one again should it vanish before the commit."""

    created: dict[Path, str] = field(default_factory=dict)
    relied_on: dict[Path, bytes] = field(default_factory=dict)
    committed: bool = False


def write_photo(session: Session, path: Path, sha256: str, data: bytes) -> None:
    """Make ``path`` hold ``data`` for a row ``session`` is adding, remembered so that the
    file goes again if the transaction does not commit (and only if no row names it)."""
    pending = session.info.setdefault(_KEY, _Pending())
    pending.relied_on[path] = data
    if write_whole(path, data):
        pending.created[path] = sha256
    else:
        _touch(path)  # reused: young again, so the orphan sweep leaves it to this upload


def write_whole(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` whole or not at all (a reader never sees half a photo);
    False when the file was already there — its name is its content, so it holds these
    very bytes."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _touch(path: Path) -> None:
    with suppress(OSError):
        os.utime(path)


# --- the session events ----------------------------------------------------------------------


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """Fired for savepoints too; only the outermost commit makes rows visible to others."""
    pending = session.info.get(_KEY)
    if isinstance(pending, _Pending) and not session.in_nested_transaction():
        pending.committed = True


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction is over: put back what committed rows rely on, remove
    what this one created that no committed row names. Never raises: whatever is left
    is the orphan sweep's."""
    if transaction.parent is not None or transaction.nested:
        return
    pending = session.info.pop(_KEY, None)
    if not isinstance(pending, _Pending):
        return
    try:
        if pending.committed:
            for path, data in pending.relied_on.items():
                if write_whole(path, data):
                    log.warning("photo %s vanished before its row committed; written again", path)
        if pending.created:
            discard_unnamed(session.get_bind(Attachment), pending.created)
    except Exception:
        log.warning("could not tidy the photo files of a transaction", exc_info=True)


# --- removing ----------------------------------------------------------------------------


def discard_unnamed(bind: Bind, files: Mapping[Path, str]) -> list[Path]:
    """Remove those of ``files`` (path → digest) no committed attachment names; the paths
    removed. Each is renamed aside before the last look at the database (see the module)."""
    named = _named(bind, set(files.values()))
    aside: dict[Path, tuple[Path, str]] = {}
    for path, sha in files.items():
        if sha in named:
            continue
        moved = path.with_name(f".discard-{secrets.token_hex(4)}-{path.name}")
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            continue
        aside[moved] = (path, sha)
    return _settle(bind, aside)


def _settle(bind: Bind, aside: Mapping[Path, tuple[Path, str]]) -> list[Path]:
    """Delete files set aside (moved → original, digest), or put back those a row now
    names."""
    if not aside:
        return []
    try:
        named = _named(bind, {sha for _, sha in aside.values()})
    except BaseException:
        for moved, (path, _) in aside.items():
            os.replace(moved, path)
        raise
    removed = []
    for moved, (path, sha) in aside.items():
        if sha in named:
            os.replace(moved, path)  # a concurrent writer's copy has the same bytes
        else:
            moved.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _named(bind: Bind, digests: set[str]) -> set[str]:
    """The digests among ``digests`` some committed attachment names."""
    wanted = sorted(digests)
    found: set[str] = set()
    with _connect(bind) as conn:
        for i in range(0, len(wanted), _CHUNK):
            query = select(Attachment.sha256).where(Attachment.sha256.in_(wanted[i : i + _CHUNK]))
            found.update(conn.scalars(query.distinct()))
    return found


def _connect(bind: Bind) -> AbstractContextManager[Connection]:
    """A connection of its own (only committed rows count), unless given one."""
    return bind.connect() if isinstance(bind, Engine) else nullcontext(bind)


# --- the orphan sweep --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrphanReport:
    """What one orphan sweep did: files looked at, left as younger than the grace period,
    removed (orphans and stale temporary files) and the bytes that freed."""

    scanned: int
    young: int
    removed: int
    freed: int
    seconds: float


def sweep_orphan_photos(
    bind: Bind,
    home: Path,
    *,
    grace: dt.timedelta = ORPHAN_GRACE,
    now: dt.datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> OrphanReport:
    """Remove the photo files under ``home`` no attachment names and not touched within
    ``grace``; ``on_progress(done, total)`` counts the first-level directories walked."""
    started = time.perf_counter()
    cutoff = (now or utcnow()).timestamp() - grace.total_seconds()
    tops = _fanout(home / "grid" / "photos")
    scanned = young = removed = freed = 0
    stored: dict[Path, str] = {}
    aside: dict[Path, tuple[Path, str]] = {}
    sizes: dict[Path, int] = {}

    def settle() -> None:
        nonlocal removed, freed
        gone = discard_unnamed(bind, stored) + _settle(bind, aside)
        removed += len(gone)
        freed += sum(sizes.get(p, 0) for p in gone)
        stored.clear()
        aside.clear()
        sizes.clear()

    for done, top in enumerate(tops, start=1):
        for entry in _files(top):
            scanned += 1
            try:
                info = entry.stat()
            except FileNotFoundError:
                continue
            if info.st_mtime > cutoff:
                young += 1
                continue
            path, name = Path(entry.path), entry.name
            if _STORED.fullmatch(name):
                stored[path], sizes[path] = name[:64], info.st_size
            elif found := _ASIDE.fullmatch(name):  # a discard cut short by a crash
                original = path.with_name(found.group(1))
                aside[path], sizes[original] = (original, found.group(1)[:64]), info.st_size
            elif _PARTIAL.fullmatch(name):  # a write cut short by a crash
                path.unlink(missing_ok=True)
                removed, freed = removed + 1, freed + info.st_size
        if len(stored) + len(aside) >= _CHUNK:
            settle()
        if on_progress is not None:
            on_progress(done, len(tops))
    settle()
    seconds = round(time.perf_counter() - started, 3)
    if removed:
        log.info("photo sweep: %d of %d files removed (%d bytes)", removed, scanned, freed)
    return OrphanReport(scanned, young, removed, freed, seconds)


def _fanout(directory: Path) -> list[Path]:
    """The ``<2 hex>`` subdirectories of ``directory``, sorted (none when it is absent)."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    return sorted(Path(e.path) for e in entries if _FANOUT.fullmatch(e.name) and e.is_dir())


def _files(top: Path) -> Iterator[os.DirEntry[str]]:
    for sub in _fanout(top):
        try:
            with os.scandir(sub) as entries:
                yield from (e for e in entries if e.is_file(follow_symlinks=False))
        except FileNotFoundError:
            continue

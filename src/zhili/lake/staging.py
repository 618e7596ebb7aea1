"""Per-ingest scratch space next to the table, safe against crashes and concurrent ingests.

Each ingest works in ``<staging root>/<id>/`` (DuckDB spill files, staged Parquet) and
holds an exclusive ``flock`` on ``<id>.lock`` for its whole life. The kernel drops the
lock when the process dies, even by SIGKILL, so the next ingest can tell a crashed
ingest's leftovers (lock free) from a running one's (lock held) and remove them.

For a local table the root is ``<table>/_staging``: Delta ignores paths starting with an
underscore, so staged files never show up as table data, and moving a staged file into
the table is a rename on the same file system. Files moved into the table are listed in
``<id>/moved.txt`` first (with the table version they were meant to follow); if the
process dies before its commit lands, the cleaner deletes those that no later version
added.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

#: A staging directory without a lock file is only removed when older than this.
ORPHAN_AGE_S = 3600


class Staging:
    """Context manager for one ingest's staging directory (``path``)."""

    def __init__(
        self,
        root: Path,
        table_dir: Path | None = None,
        referenced: Callable[[int], set[str] | None] | None = None,
    ) -> None:
        self.root = root
        self.table_dir = table_dir
        self.id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        self.path = root / self.id
        self._lock_path = root / f"{self.id}.lock"
        self._lock_fd: int | None = None
        self._referenced = referenced

    @property
    def data(self) -> Path:
        """Where staged Parquet files go."""
        return self.path / "data"

    @property
    def spill(self) -> Path:
        """DuckDB's temp directory."""
        return self.path / "spill"

    def __enter__(self) -> Staging:
        self.root.mkdir(parents=True, exist_ok=True)
        clean_stale(self.root, self.table_dir, self._referenced)
        # Lock under a private name, then rename: a cleaner never sees an unlocked lock file.
        private = self.root / f".{self.id}.locking"
        fd = os.open(private, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(private, self._lock_path)
        self._lock_fd = fd
        self.data.mkdir(parents=True)
        self.spill.mkdir()
        return self

    def note_moved(self, names: Iterable[str], base_version: int) -> None:
        """Record files about to be moved into a table now at ``base_version``; a cleaner
        removes them later unless a newer version references them."""
        with open(self.path / "moved.txt", "w", encoding="utf-8") as f:
            f.write(f"{base_version}\n")
            f.writelines(f"{name}\n" for name in names)
            f.flush()
            os.fsync(f.fileno())

    def forget_moved(self) -> None:
        """The commit landed: the moved files now belong to the table."""
        (self.path / "moved.txt").unlink(missing_ok=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                _remove_moved(self.path, self.table_dir, self._referenced)
            shutil.rmtree(self.path, ignore_errors=True)
            self._lock_path.unlink(missing_ok=True)
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)


def _remove_moved(
    path: Path, table_dir: Path | None, referenced: Callable[[int], set[str] | None] | None
) -> None:
    """Delete files a dead ingest moved into the table that no version references."""
    listing = path / "moved.txt"
    if not listing.exists() or referenced is None or table_dir is None:
        return
    base, *names = [n for n in listing.read_text(encoding="utf-8").splitlines() if n]
    keep = referenced(int(base)) if names else None
    if keep is None:
        return
    for name in names:
        if name not in keep:
            (table_dir / name).unlink(missing_ok=True)


def clean_stale(
    root: Path,
    table_dir: Path | None = None,
    referenced: Callable[[int], set[str] | None] | None = None,
) -> list[str]:
    """Remove the staging directories of ingests that are no longer running."""
    removed = []
    for lock in root.glob("*.lock"):
        fd = os.open(lock, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live ingest
            work = root / lock.stem
            _remove_moved(work, table_dir, referenced)
            shutil.rmtree(work, ignore_errors=True)
            lock.unlink(missing_ok=True)
            removed.append(lock.stem)
        finally:
            os.close(fd)
    now = time.time()
    for work in root.iterdir():
        unlocked = work.is_dir() and not (root / f"{work.name}.lock").exists()
        if unlocked and now - work.stat().st_mtime > ORPHAN_AGE_S:
            shutil.rmtree(work, ignore_errors=True)
            removed.append(work.name)
    return removed

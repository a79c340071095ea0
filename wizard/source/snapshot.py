"""A consistent snapshot of the source with SQLite's online backup API: the app may keep writing meanwhile, and
the user's file is never modified. The copy reads only from the snapshot."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import platformdirs

from wizard.errors import InputError
from wizard.source.sqlite_file import open_readonly


@dataclass(frozen=True)
class Snapshot:
    path: str
    size_bytes: int
    sha256: str  # "" while a big snapshot is still being hashed (completed() waits for it)
    taken_at: str


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Restarting(Exception):
    pass


def _backup(reader: sqlite3.Connection, dest: sqlite3.Connection) -> None:
    """Copy pages at a time, so an app writing in rollback-journal mode is not locked out for long. A write by
    another connection restarts such a backup, though, and a busy app would restart it forever: after a few
    restarts, copy in one step, which holds one read transaction and so is consistent whatever the app does."""
    last: list[int] = []

    def progress(status: int, remaining: int, total: int) -> None:
        if last and remaining > last[-1]:
            last.append(-1)
            if last.count(-1) >= 3:
                raise _Restarting
        last.append(remaining)

    try:
        reader.backup(dest, pages=4096, progress=progress)
    except _Restarting:
        reader.backup(dest, pages=-1)


_LOCK_PAGE_AT = 1 << 30  # where SQLite's lock bytes are; Windows refuses to read a range another process locked


def _copy_whole(reader: sqlite3.Connection, src: Path, partial: Path) -> bool:
    """Copy the file as it is, under a read transaction, when that is a consistent snapshot: a rollback-journal
    file (no -wal, no -journal beside it), whose writers cannot commit while we hold the read lock. The kernel
    copies it several times faster than the backup API, which reads and writes it page by page through SQLite.
    False (nothing done) when the backup API has to take it."""
    try:
        with open(src, "rb") as fh:
            head = fh.read(20)
    except OSError:
        return False
    if head[18:20] != b"\x01\x01" or Path(f"{src}-wal").exists() or Path(f"{src}-journal").exists():
        return False
    if sys.platform == "win32" and src.stat().st_size > _LOCK_PAGE_AT:
        return False
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()  # takes the read lock, held until COMMIT
        if Path(f"{src}-journal").exists():  # a writer began between the look and the lock: let SQLite copy
            return False
        shutil.copyfile(src, partial)
        return True
    except sqlite3.Error:
        return False
    finally:
        if reader.in_transaction:
            reader.execute("COMMIT")


# A snapshot at least this big is hashed in the background, beside the copy, instead of before it starts
# (SHA-256 reads about 1.3 GB/s on one core); a smaller one costs too little to be worth the wait for its record.
HASH_AHEAD_BYTES = 64 << 20


def _finish(path: Path, hashed: threading.Event | None) -> None:
    """Hash the complete snapshot when asked (the run records it; `hashed` is set then), then write it to disk."""
    try:
        if hashed is not None:
            _digests[str(path)] = file_sha256(path)
    except OSError as exc:
        _digests[str(path)] = exc
    finally:
        if hashed is not None:
            hashed.set()  # completed() need not wait for the fsync too
        _flush(path)


def _flush(path: Path) -> None:
    """Write the snapshot's pages to disk (fsync). Disk I/O, not CPU: it runs beside the copy."""
    try:
        fd = os.open(path, os.O_RDWR)  # Windows flushes only a file opened for writing
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # removed meanwhile, or a file system that cannot sync: a resume still compares the SHA-256
    finally:
        _flushing.pop(str(path), None)  # also when no migrate waits for it (a run that failed after the snapshot)


_flushing: dict[str, threading.Thread] = {}  # snapshots of this process still being hashed or flushed
_digests: dict[str, str | OSError] = {}  # SHA-256s computed in the background, until completed() takes them
_hashed: dict[str, threading.Event] = {}  # set once the background hash of a snapshot is done (or failed)


def wait_flushed(snapshot: Snapshot) -> None:
    """Return once the snapshot taken by this process is on disk (at once for any other)."""
    thread = _flushing.get(snapshot.path)
    if thread is not None:
        thread.join()


def completed(snapshot: Snapshot) -> Snapshot:
    """The snapshot with its SHA-256, waiting for the background hash of a big one (take_snapshot)."""
    if snapshot.sha256:
        return snapshot
    done = _hashed.pop(snapshot.path, None)
    if done is not None:
        done.wait()
    digest = _digests.pop(snapshot.path, None)
    if not isinstance(digest, str):
        reason = f": {digest.strerror}" if isinstance(digest, OSError) else ""
        raise InputError(f"The snapshot {snapshot.path} could not be read back for its SHA-256{reason}.",
                         title="Snapshot failed", hint="Check the backup folder, then rerun with --restart.",
                         ui_hint="Check the backup folder, then start the copy over (Start).")
    return replace(snapshot, sha256=digest)


def discard(snapshot: Snapshot) -> None:
    """Delete a snapshot no run state refers to (its migration failed to start): nothing would ever read it."""
    wait_flushed(snapshot)  # Windows cannot delete a file another thread still has open
    _hashed.pop(snapshot.path, None)
    _digests.pop(snapshot.path, None)
    Path(snapshot.path).unlink(missing_ok=True)
    release(snapshot.path)


_IN_USE = ".in-use"


def _marker(path: Path | str) -> Path:
    """The file beside a snapshot that says an unfinished migration still needs it (to resume exactly)."""
    return Path(f"{path}{_IN_USE}")


def release(path: Path | str) -> None:
    """The migration that read this snapshot is finished (or dropped): it may be pruned once a newer one exists."""
    with contextlib.suppress(OSError):
        _marker(path).unlink()


@dataclass(frozen=True)
class Pruned:
    """What prune_snapshots did: the snapshots it removed (path, bytes), and older ones kept because an unfinished
    migration (into another target) still needs them."""

    removed: list[tuple[str, int]]
    in_use: list[str]

    @property
    def freed_bytes(self) -> int:
        return sum(size for _path, size in self.removed)


def snapshots_of(source: Path | str, folders: list[Path]) -> list[Path]:
    """The complete snapshots of `source` in `folders`, oldest first (their names carry the time they were taken)."""
    src = Path(source)
    found = {p.absolute() for folder in folders
             for p in folder.glob(f"{glob.escape(src.name)}.pgmigrate-backup-*.sqlite")}
    return sorted(found, key=lambda p: p.name)


def prune_snapshots(source: Path | str, keep: Snapshot) -> Pruned:
    """After a finished migration: remove the snapshots of `source` older than `keep` (which verify reads), in its
    folder, the source's and the fallback folder, except those an unfinished migration still needs."""
    src = Path(source)
    kept = Path(keep.path).absolute()
    folders = list(dict.fromkeys([kept.parent, src.absolute().parent, fallback_folder()]))
    removed, in_use = [], []
    for path in snapshots_of(src, folders):
        if path == kept or path.name > kept.name:
            continue  # the one kept, or one taken after it (by a run into another target)
        if _marker(path).exists():
            in_use.append(str(path))
            continue
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            continue  # open elsewhere (Windows) or already gone: tried again after the next migration
        removed.append((str(path), size))
    return Pruned(removed, in_use)


def unchanged(snapshot: Snapshot) -> bool:
    """Whether the snapshot file still holds exactly the bytes recorded when it was taken."""
    path = Path(snapshot.path)
    return path.is_file() and path.stat().st_size == snapshot.size_bytes and file_sha256(path) == snapshot.sha256


def whole(path: Path) -> bool:
    """Whether SQLite finds the file a whole database (PRAGMA quick_check: every page readable and well formed)."""
    try:
        conn = open_readonly(path)
    except InputError:
        return False
    try:
        return bool(conn.execute("PRAGMA quick_check").fetchone() == ("ok",))
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _room_problem(src: Path, folder: Path) -> InputError | None:
    """Why `folder` cannot take the snapshot of `src` (not writable, or less free space than the source and its
    WAL file), or None. Asked before the backup starts rather than found after copying most of a big file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return InputError(f"The backup folder {folder} cannot be written: {exc.strerror}.", title="Snapshot failed",
                          hint="Choose another folder with --backup-dir.")
    try:
        need = sum(p.stat().st_size for p in (src, src.with_name(src.name + "-wal")) if p.exists())
        free = shutil.disk_usage(folder).free
    except OSError:
        return None  # the backup itself reports what is wrong
    if need > free:
        return InputError(f"The snapshot of {src} needs about {need / 2**20:,.0f} MiB, but {folder} has "
                          f"{free / 2**20:,.0f} MiB free.", title="Not enough disk space",
                          hint="Free some space there, or put the snapshot elsewhere with --backup-dir.")
    return None


def fallback_folder() -> Path:
    """Where a snapshot goes when the source's folder cannot take it (a read-only share, a full disk)."""
    return platformdirs.user_data_path("pgmigrate-wizard") / "snapshots"


def _snapshot_folder(src: Path, backup_dir: Path | str | None) -> Path:
    """The folder asked for; by default the source's own, or the user data folder when that one cannot take the
    snapshot (the summary shows where it went). A folder asked for is never replaced."""
    if backup_dir:
        problem = _room_problem(src, Path(backup_dir))
        if problem is not None:
            raise problem
        return Path(backup_dir)
    folder = src.absolute().parent
    problem = _room_problem(src, folder)
    if problem is None:
        return folder
    other = fallback_folder()
    if _room_problem(src, other) is None:
        return other
    raise problem


def _partial_name(target: Path) -> Path:
    """Where a snapshot is written until it is complete: named for the process writing it, so a later run can
    tell a partial snapshot left by a killed run (its writer gone) from one being written right now."""
    return target.with_name(f"{target.name}.{os.getpid()}.partial")


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return True  # no cheap check: Windows refuses to delete a file its writer still has open anyway
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, another user's
    return True


def remove_partials(src: Path, folders: list[Path]) -> None:
    """Remove the partial snapshots of `src` (and their journals) that killed runs left in `folders`."""
    for folder in folders:
        for path in folder.glob(f"{glob.escape(src.name)}.pgmigrate-backup-*.partial*"):
            pid_text = path.name.split(".partial")[0].rsplit(".", 1)[-1]
            if not pid_text.isdigit() or _writer_alive(int(pid_text)):
                continue
            with contextlib.suppress(OSError):
                path.unlink()


def take_snapshot(source: Path | str, backup_dir: Path | str | None = None) -> Snapshot:
    src = Path(source)
    folder = _snapshot_folder(src, backup_dir)
    remove_partials(src, list(dict.fromkeys([folder, src.absolute().parent, fallback_folder()])))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{src.name}.pgmigrate-backup-{stamp}.sqlite"
    partial = _partial_name(target)
    reader = open_readonly(src)
    try:
        _marker(target).touch()  # before the snapshot has its name: no other run's pruning may take it
        if not _copy_whole(reader, src, partial):
            dest = sqlite3.connect(partial)
            # No fsync inside the backup: the file is flushed in the background once it is complete
            # (wait_flushed), and a resume compares its SHA-256, so a snapshot torn by a power cut is refused
            # rather than read.
            dest.execute("PRAGMA synchronous = OFF")
            try:
                _backup(reader, dest)
                # the copy of a WAL-mode file is one too: readers of it (the copy, verify) would leave -wal and
                # -shm files beside it
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
        os.replace(partial, target)  # complete: only now does it get the name a run records
        size = target.stat().st_size
        later = size >= HASH_AHEAD_BYTES
        snapshot = Snapshot(str(target), size, "" if later else file_sha256(target), datetime.now().isoformat())
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        release(target)
        raise InputError(f"The snapshot of {src} failed: {exc}.", title="Snapshot failed",
                         hint="Check free disk space in the backup folder, then retry.") from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        release(target)
        raise InputError(f"The snapshot of {src} could not be written: {exc.strerror}.", title="Snapshot failed",
                         hint="Check free disk space and permissions, or use --backup-dir.") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)  # Ctrl-C halfway: no partial copy of a big file is left behind
        release(target)
        raise
    finally:
        reader.close()
    hashed = threading.Event() if later else None
    flusher = threading.Thread(target=_finish, args=(target, hashed), name="snapshot-finish", daemon=True)
    _flushing[snapshot.path] = flusher  # before it starts: the thread removes its entry when done
    if hashed is not None:
        _hashed[snapshot.path] = hashed
    flusher.start()
    return snapshot

"""All-or-nothing file writes, the one way the studio and the engine write a file a user keeps.

A write goes to a temporary name in the target's own folder (``.<name>.<pid>.<random>.part``), is flushed and
fsynced, then renamed over the target with :func:`os.replace` (atomic on POSIX) and the folder is fsynced: a
reader, a crash or a ``SIGKILL`` at any instant sees the old file or the new one, never half of one. On an error
(a full disk, a file-size limit, a missing permission) the temporary is removed and
:class:`~studio.errors.WriteError` says in one line what could not be written.

A process killed mid-write leaves its ``.part`` file (named after its PID), never the target half-written; the
next write into that folder removes the partial files of writers no longer running (:func:`remove_partials`).
(``O_TMPFILE`` would leave nothing at all, but linking the finished file in fails with EXDEV on some kernels and
sandboxes: this one is portable.)
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from studio.errors import WriteError

PARTIAL_SUFFIX = ".part"
_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def write_failure(what: str | Path, exc: OSError) -> WriteError:
    """A one-line :class:`WriteError` for ``exc`` while writing ``what`` (a path or a description):
    ``could not write out.jsonl: the disk is full or a file-size limit was reached (File too large)``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in _FULL:
        reason = f"the disk is full or a file-size limit was reached ({reason})"
    return WriteError(f"could not write {what}: {reason}")


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _partial_prefix(path: Path) -> str:
    """``.<name>.<pid>.``: a partial file names its writer, so a sweep knows when the writer is gone."""
    return f".{path.name}.{os.getpid()}."


@contextmanager
def atomic_open(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file to write whose content replaces ``path`` only when the ``with`` block ends without error.

    Raises :class:`WriteError` naming ``path`` when the disk is full, a file-size limit is reached or the folder
    cannot be written; the previous ``path`` (if any) is then left as it was and no partial file remains.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_partials(path.parent)
        fd, name = tempfile.mkstemp(prefix=_partial_prefix(path), suffix=PARTIAL_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise write_failure(path, exc) from None
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise write_failure(path, exc) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` all-or-nothing (see :func:`atomic_open`); returns ``path``."""
    with atomic_open(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_move(source: str | Path, path: str | Path) -> Path:
    """Put the finished file ``source`` at ``path`` all-or-nothing: a rename when both are on one file system,
    else a copy through :func:`atomic_open`; ``source`` is gone afterwards. Raises :class:`WriteError`."""
    source, path = Path(source), Path(path)
    try:
        with open(source, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(source, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise write_failure(path, exc) from None
        with atomic_open(path) as out, open(source, "rb") as handle:
            shutil.copyfileobj(handle, out, 1 << 20)
        source.unlink(missing_ok=True)
    return path


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; it becomes ``path`` when the ``with`` block ends without error.
    Every file in it is fsynced before the rename. A folder already at ``path`` (a step trained again after a
    resume) is renamed aside first and removed after: a crash between the two renames leaves it under a ``.part``
    name, which :func:`remove_partials` sweeps.

    For a model checkpoint: ``with atomic_folder(step_dir) as tmp: model.save_pretrained(tmp)``. Raises
    :class:`WriteError` naming ``path``; on any error the temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_partials(path.parent)
        temp = Path(tempfile.mkdtemp(prefix=_partial_prefix(path), suffix=PARTIAL_SUFFIX, dir=path.parent))
    except OSError as exc:
        raise write_failure(path, exc) from None
    try:
        yield temp
        for file in temp.rglob("*"):
            if file.is_file():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
        old = None
        if path.exists():
            old = path.with_name(f"{_partial_prefix(path)}old{PARTIAL_SUFFIX}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(temp, path)
        _fsync_folder(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise write_failure(path, exc) from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def remove_partials(folder: str | Path) -> int:
    """Delete the ``.part`` files and folders that writers no longer running (killed mid-write) left directly in
    ``folder``; returns how many. Every atomic write sweeps its folder first, and the engine's store sweeps its
    folders when it opens, so a crash leaves its partial file only until the next write there."""
    removed = 0
    for entry in Path(folder).glob(f".*{PARTIAL_SUFFIX}"):
        pid = entry.name[: -len(PARTIAL_SUFFIX)].rsplit(".", 2)[-2]
        if not pid.isdigit() or _running(int(pid)):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed += 1
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True

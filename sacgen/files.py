"""The two ways sacgen changes a file it shares with other commands: an atomic
replace (readers see the old file or the new one, never a torn one) and an
exclusive lock (two commands never interleave a read-modify-write)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator


def atomic_write(path: str | os.PathLike, data: bytes, mode: int | None = 0o600, sync: bool = True) -> None:
    """Replace PATH by DATA: a temporary file in the same folder, written (and
    fsynced unless SYNC is false: a cache need not survive a crash), given MODE
    (None: PATH's present mode), then renamed over PATH. Raises OSError; the
    temporary file never outlives a failure."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    if mode is None:
        mode = os.stat(path).st_mode & 0o777
    # O_EXCL: a name no other writer holds (pid and a random part).
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive flock on PATH (created if missing) for the block.
    Raises OSError when the lock file cannot be opened."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield

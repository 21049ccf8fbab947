"""Stage 6: the local registry of agents and reservations ($SAC_HOME/state.json).

It is a cache of what sac started; the cluster is the truth (status follows job
chains by name). Writes are atomic (temporary file, fsync, rename) under an
exclusive lock, so two sac commands never lose each other's updates and a sac
killed at any point leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os

from .errors import OperationFailed

VERSION = 1


def sac_home_dir() -> str:
    """$SAC_HOME, else ~/.scitex/agent-container (os.path: no pathlib for the
    calls that only read the registry)."""
    return os.environ.get("SAC_HOME") or os.path.join(os.path.expanduser("~"), ".scitex", "agent-container")


def sac_home():
    """sac_home_dir() as a pathlib.Path."""
    from pathlib import Path

    return Path(sac_home_dir())


class Registry:
    def __init__(self, home=None):
        self.home = os.fspath(home) if home else sac_home_dir()
        self.path = os.path.join(self.home, "state.json")

    def _empty(self) -> dict:
        return {"version": VERSION, "agents": {}, "reservations": {}}

    def read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return self._empty()
        except OSError as e:
            raise OperationFailed(f"cannot read {self.path}: {e.strerror or e}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise OperationFailed(f"{self.path} is not valid JSON ({e}); move it away to start afresh") from None
        data.setdefault("agents", {})
        data.setdefault("reservations", {})
        return data

    @contextlib.contextmanager
    def update(self):
        """Read-modify-write under the lock; the change lands only if the block succeeds."""
        try:
            os.makedirs(self.home, mode=0o700, exist_ok=True)
            lock = open(os.path.join(self.home, "state.lock"), "a")
        except OSError as e:
            raise OperationFailed(f"cannot use {self.home}: {e.strerror or e}") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            yield data
            self._write(data)

    def _write(self, data: dict) -> None:
        import tempfile  # here, not at the top: most sac calls only read

        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".state.", suffix=".tmp", dir=self.home)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            tmp = None
        except OSError as e:
            raise OperationFailed(f"cannot write {self.path}: {e.strerror or e}; nothing was changed") from None
        finally:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

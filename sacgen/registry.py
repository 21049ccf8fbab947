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
import tempfile
from pathlib import Path

from .errors import OperationFailed

VERSION = 1


def sac_home() -> Path:
    return Path(os.environ.get("SAC_HOME") or Path.home() / ".scitex" / "agent-container")


class Registry:
    def __init__(self, home: Path | None = None):
        self.home = Path(home) if home else sac_home()
        self.path = self.home / "state.json"

    def _empty(self) -> dict:
        return {"version": VERSION, "agents": {}, "reservations": {}}

    def read(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8")
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
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock = open(self.home / "state.lock", "a")
        except OSError as e:
            raise OperationFailed(f"cannot use {self.home}: {e.strerror or e}") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            yield data
            self._write(data)

    def _write(self, data: dict) -> None:
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

"""The local registry of agents and reservations ($SAC_HOME/state.json).

It is a cache of what sac started; the cluster is the truth (status follows job
chains by name). Writes are atomic (temporary file, fsync, rename) under an
exclusive lock, so two sac commands never lose each other's updates and a sac
killed at any point leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ..compile.model import is_name
from ..errors import OperationFailed
from ..files import atomic_write, locked
from ..paths import sac_home_dir

VERSION = 1


def _record_problem(key: str, name, rec) -> str | None:
    """What is wrong with one record of the registry (a file people may edit by
    hand), so that no command trips over it later; None if nothing."""
    where = f"{key}.{name}"
    if not is_name(name):
        return f"{key}: {name!r} is not a name (lowercase letters, digits and -, starting with a letter)"
    if not isinstance(rec, dict):
        return f"{where} is not an object"
    if not isinstance(rec.get("host"), str) or not rec["host"]:
        return f"{where}.host is missing or not a string"
    if key in ("agents", "stopped"):
        if rec.get("runtime") not in ("slurm", "slurm-tenant"):
            return f"{where}.runtime is not slurm or slurm-tenant"
        if rec["runtime"] == "slurm-tenant" and not isinstance(rec.get("reservation"), str):
            return f"{where}.reservation is missing or not a string"
        text = ("job_id", "model", "spec", "started_at")
    else:
        if not isinstance(rec.get("spec", {}), dict):
            return f"{where}.spec is not an object"
        text = ("job_id", "node", "state", "tmux_server", "source", "booked_at")  # type: ignore[assignment]
    for field in text:
        if rec.get(field) is not None and not isinstance(rec[field], str):
            return f"{where}.{field} is not a string"
    return None


def now() -> str:
    """The time as the registry records it (started_at, booked_at)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Registry:
    def __init__(self, home=None):
        self.home = os.fspath(home) if home else sac_home_dir()
        self.path = os.path.join(self.home, "state.json")

    def _empty(self) -> dict:
        return {"version": VERSION, "agents": {}, "reservations": {}, "stopped": {}}

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
        for key in ("agents", "reservations", "stopped"):
            records = data.setdefault(key, {})
            bad = f"{key} is not an object" if not isinstance(records, dict) else next(
                filter(None, (_record_problem(key, name, rec) for name, rec in records.items())), None)
            if bad:
                raise OperationFailed(f"{self.path} is not a sac registry ({bad}); move it away to start afresh, "
                                      "or mend it")
        return data

    def check_writable(self, doing: str) -> None:
        """Refuse, before DOING anything on a cluster, when what it did could not
        be recorded: a job nothing here knows of is one no sac command reaches."""
        probe = os.path.join(self.home, f".probe.{os.getpid()}")
        try:
            os.makedirs(self.home, mode=0o700, exist_ok=True)
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            os.unlink(probe)
        except OSError as e:
            raise OperationFailed(f"cannot use {self.home} ({e.strerror or e}): it records what sac starts; "
                                  f"nothing was {doing}") from None

    @contextmanager
    def update(self) -> Iterator[dict]:
        """Read-modify-write under the lock; the change lands only if the block succeeds."""
        with ExitStack() as held:
            try:
                os.makedirs(self.home, mode=0o700, exist_ok=True)
                held.enter_context(locked(os.path.join(self.home, "state.lock")))
            except OSError as e:
                raise OperationFailed(f"cannot use {self.home}: {e.strerror or e}") from None
            data = self.read()
            yield data
            self._write(data)

    def _write(self, data: dict) -> None:
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        try:
            atomic_write(self.path, text.encode("utf-8"), 0o600)
        except OSError as e:
            raise OperationFailed(f"cannot write {self.path}: {e.strerror or e}; nothing was changed") from None

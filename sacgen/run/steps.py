"""Steps in connections: each operation is a list of items (a target's script,
or a batch script that serves several targets on one host), grouped by host into
one ssh connection each (run.remote.run_batch), and read back as outcomes.

A batch script's kind is typed (Kind), never a pseudo-name among the targets.
"""

from __future__ import annotations

import enum
import os
import time
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path

from ..errors import HostUnreachable, OperationFailed, UsageError
from .cache import artifact
from .remote import BatchResult, Step, last_line, run_batch


class Kind(enum.Enum):
    """What a step is. TARGET: the script of one agent or reservation; the others
    are the per-batch scripts (their value names the script), one per host."""

    TARGET = "target"
    LAUNCH_QUEUE = "launch-queue.sh"  # launches every tenant the start steps queued
    STOP_QUEUE = "stop-queue.sh"  # stops every tenant the stop steps queued
    SNAPSHOT_PREFETCH = "snapshot-prefetch.sh"  # lists the panes of every job a status batch looks at
    SNAPSHOT_CLEANUP = "snapshot-cleanup.sh"  # removes the batch's squeue/sinfo snapshot


class Item(namedtuple("Item", "name host step kind", defaults=(Kind.TARGET,))):
    """One step of an operation: NAME is the agent or reservation it is for (a
    batch step's: its script's name), STEP what runs on HOST, KIND what it is."""

    __slots__ = ()
    name: str
    host: str
    step: Step
    kind: Kind


class Outcome:
    """What one operation did for one agent or reservation on its host."""

    __slots__ = ("name", "host", "ok", "result", "error", "unreachable", "results", "kind")

    def __init__(self, name: str, host: str | None, ok: bool, result: dict | None = None, error: str = "",
                 unreachable: bool = False, results: list | None = None, kind: Kind = Kind.TARGET):
        self.name, self.host, self.ok = name, host, ok
        self.result = {} if result is None else result
        self.error, self.unreachable = error, unreachable
        self.results = [] if results is None else results
        self.kind = kind

    def __repr__(self) -> str:
        return "Outcome(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def run_grouped(items: list[Item], progress=None,
                runner: Callable[[str, list[Step]], BatchResult] | None = None) -> list[Outcome]:
    """One connection per host, its items' steps in order; an outcome per item.
    Hosts that cannot be reached give outcomes with unreachable=True; the others
    still run. PROGRESS: see run.remote.run_batch. RUNNER(host, steps) runs one
    host's steps (default: a connection of their own; sac agent wait and list
    --watch: a kept one)."""
    by_host: dict[str, list[Item]] = {}
    for item in items:
        by_host.setdefault(item.host, []).append(item)
    out: list[Outcome] = []
    for host, group in by_host.items():
        try:
            if runner is not None:
                batch = runner(host, [i.step for i in group])
            else:
                batch = run_batch(host, [i.step for i in group], progress=progress)
        except HostUnreachable as e:
            out.extend(Outcome(i.name, host, False, error=e.message, unreachable=True, kind=i.kind) for i in group)
            continue
        except OperationFailed as e:
            out.extend(Outcome(i.name, host, False, error=e.message, kind=i.kind) for i in group)
            continue
        for item, step in zip(group, batch.steps):
            name, kind = item.name, item.kind
            r = step.result
            if r is None and step.status is None and batch.lost:
                out.append(Outcome(name, host, False, {"lost": True}, error=batch.lost, kind=kind))
            elif r is None:
                detail = last_line(batch.stderr)
                if step.status is not None:
                    why = f"the script on {host} ended without a result (exit {step.status})"
                else:  # it never ran, or never finished: what the ssh command said
                    why = f"no answer from the script on {host} (the ssh command ended with exit {batch.returncode})"
                out.append(Outcome(name, host, False, error=f"{why}: {detail}" if detail else why, kind=kind))
            else:
                # (A result line is a script's last: one whose end marker a broken
                # connection kept from us still said how it went.)
                ok = bool(r.get("ok", True)) and (step.status == 0 or step.status is None and bool(batch.lost))
                out.append(Outcome(name, host, ok, r, error=r.get("error") or "", results=step.results, kind=kind))
    return out


def exit_status(outcomes: list[Outcome]) -> int:
    if any(o.unreachable for o in outcomes):
        return 3
    return 0 if all(o.ok for o in outcomes) else 1


def batched(items: list[Item], members: set[str], env_key: str, kind: Kind) -> list[Item]:
    """Where one host gets several of `members`, the first step of its connection
    exports env_key (a batch id, which holds for every later step too) and a last
    step runs the batch script of KIND. Used for tenant launches and stops (queued by start.sh /
    stop.sh, done by launch-queue.sh / stop-queue.sh: one srun per reservation,
    not per tenant) and for status (one squeue, one sinfo and one tmux listing per
    server for all, removed by snapshot-cleanup.sh)."""
    per_host: dict[str, int] = {}
    for item in items:
        if item.name in members:
            per_host[item.host] = per_host.get(item.host, 0) + 1
    batched_hosts = {h for h, n in per_host.items() if n > 1}
    batch = f"{os.getpid()}-{time.time_ns()}"
    out, first = [], set()
    for item in items:
        if item.host in batched_hosts and item.host not in first:
            first.add(item.host)
            item = item._replace(step=item.step._replace(env=((env_key, batch),)))
        out.append(item)
    for host in batched_hosts:
        out.append(batch_item(kind, host))
    return out


def batch_item(kind: Kind, host: str, args: tuple = (), env: tuple = ()) -> Item:
    """The step that runs KIND's batch script on HOST."""
    return Item(kind.value, host, Step(artifact(None, kind.value), args, kind.value, env=env), kind)


def merge_queued(outcomes: list[Outcome], kind: Kind) -> list[Outcome]:
    """The outcomes of the targets; queued tenants take their result from the
    results of the queue step of KIND on their host."""
    queues = {o.host: o for o in outcomes if o.kind is kind}
    merged = []
    for o in outcomes:
        if o.kind is not Kind.TARGET:
            continue
        if o.ok and o.result.get("queued"):
            queue = queues.get(o.host)
            found = [r for r in (queue.results if queue else []) if r.get("name") == o.name]
            if found:
                o.result, o.ok, o.error = found[-1], bool(found[-1].get("ok")), found[-1].get("error") or ""
            elif queue is not None and queue.result.get("lost"):
                o.result, o.ok, o.error = {"lost": True}, False, queue.error
            else:
                why = queue.error if queue else "no queue step ran"
                o.ok, o.error = False, f"queued but not done: {why}"
        merged.append(o)
    return merged


def run_script(path: Path, host: str, args: tuple) -> tuple[int, str, str]:
    """Run the script at PATH on HOST, privately (`sac run`)."""
    try:
        script = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror or e}") from None
    batch = run_batch(host, [Step(script, args, path.name, private=True)])
    if batch.steps[0].status is None and batch.lost:
        raise OperationFailed(f"{path.name}: {batch.lost}")
    if batch.steps[0].status is None:
        detail = last_line(batch.stderr)
        raise OperationFailed(f"{path.name} did not run to its end on {host} (the ssh command ended with exit "
                              f"{batch.returncode})" + (f": {detail}" if detail else ""))
    return batch.steps[0].status, batch.stdout, batch.stderr

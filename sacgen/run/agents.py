"""The operations on agents behind `sac agent` and `sac list`: find the specs,
choose each agent's script, run them (run.steps: one connection per host), read
the outcomes, update the registry.

YAML -> spec -> rendered scripts -> remote.run_batch -> results -> Registry.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

from ..compile.model import RESERVATION_JOB_PREFIX, AgentSpec
from ..errors import OperationFailed, SacError, UsageError
from . import steps
from .cache import artifact, load_specs
from .discovery import discover, discovery_dirs, looks_like_path
from .registry import Registry, now
from .remote import KeptSession, Step, run_interactive
from .steps import Item, Kind, Outcome, batch_item, batched, merge_queued

# What an agent's hooks report it doing (`activity` in its folder on the cluster).
ACTIVITIES = ("working", "idle", "waiting")


def load_agent_files(paths: list, named: list) -> list[AgentSpec]:
    """paths: pathlib.Paths of YAML files or folders. A Reservation file the user
    named (one of NAMED, by its path or its name) is refused: it is booked, not
    started. One found in a folder or by --all is passed over."""
    specs = load_specs([str(p) for p in paths])
    agents = [s for s in specs if isinstance(s, AgentSpec)]
    real = {os.path.realpath(p) for p in named if not p.is_dir()}
    for s in specs:
        if not isinstance(s, AgentSpec) and os.path.realpath(s.source) in real:
            raise UsageError(f"{s.source}: is a Reservation; book it with `sac reservations book` instead")
    if not agents:
        raise UsageError(f"no Agent YAMLs in {', '.join(str(p) for p in paths)} (only Reservations)")
    return agents


def resolve_agents(targets: list[str], all_: bool) -> list[AgentSpec]:
    """PATHs and NAMEs (looked up by discovery) -> validated agent specs."""
    paths: list = []
    found = None
    for t in targets:
        if looks_like_path(t):
            paths.append(Path(t))
        else:
            found = discover() if found is None else found
            if t not in found:
                # Started from here before: the YAML it was started from.
                reg = Registry().read()
                rec = reg["agents"].get(t) or reg["stopped"].get(t) or {}
                if rec.get("spec") and os.path.isfile(rec["spec"]):
                    found[t] = Path(rec["spec"])
            if t not in found:
                where = ", ".join(str(d) for d in discovery_dirs())
                last = rec.get("spec")
                why = (f"and {last}, which it was last started from, is gone" if last else
                       "and not started from here before")
                raise UsageError(f"unknown agent {t!r}: no {t}/{t}.yaml in {where}, {why}")
            paths.append(found[t])
    named = list(paths)
    if all_:
        found = discover() if found is None else found
        paths.extend(p for p in found.values() if p not in paths)
        if not paths:
            where = ", ".join(str(d) for d in discovery_dirs())
            raise UsageError(f"no agent YAMLs found in {where} (<dir>/<name>/<name>.yaml; more folders: "
                             "SCITEX_AGENT_CONTAINER_YAML_DIRS, colon-separated)")
    if not paths:
        raise UsageError("name at least one agent (PATH or NAME), or use --all")
    specs = load_agent_files(paths, named)
    names: dict[str, str] = {}
    for s in specs:
        if s.name in names:
            raise UsageError(f"agent {s.name!r} given twice ({names[s.name]} and {s.source})")
        names[s.name] = s.source
    return specs


def host_of(spec: AgentSpec, reg: dict) -> str:
    if spec.tenant:
        res = reg["reservations"].get(spec.reservation)
        if not res:
            raise OperationFailed(
                f"{spec.name}: reservation '{spec.reservation}' is not known here; book it with "
                f"`sac reservations book {spec.reservation} --host HOST --tmux-server sac`, or adopt one "
                f"booked elsewhere with `sac reservations refresh {spec.reservation} --host HOST`")
        return res["host"]
    host = spec.host or os.environ.get("SAC_HOST")
    if not host:
        raise UsageError(f"{spec.source}: spec.slurm.host is not set and SAC_HOST is empty: "
                         "say which host to submit to")
    return host


def job_hint(spec: AgentSpec, reg: dict) -> tuple[str, ...]:
    """For a tenant: (JOB, NODE) of its reservation as sac last saw it running,
    for the scripts that go straight into that job with one step (a step runs
    only in a running job; if srun refuses, they look the job up with squeue).
    () when there is none to go by."""
    if not spec.tenant:
        return ()
    rec = reg["reservations"].get(spec.reservation) or {}
    job, node = rec.get("job_id"), rec.get("node")
    if rec.get("state") in (None, "RUNNING") and job and node:
        return (str(job), str(node))
    return ()


def spec_from_record(name: str, rec: dict) -> AgentSpec:
    """Enough of a spec to render status/logs/attach/stop, which need only the
    name, runtime and reservation -- so they work even if the YAML moved."""
    return AgentSpec(name=name, source=rec.get("spec") or "(registry)", runtime=rec["runtime"],
                     model=rec.get("model") or "-", reservation=rec.get("reservation"),
                     session=rec.get("session") if rec.get("session") in ("resume", "new") else "new")


def known_agent(name: str, reg: dict) -> tuple[AgentSpec, str]:
    """A started agent from the registry (or one stopped from here: its status
    and logs still make sense), else its YAML by discovery."""
    if name.startswith(RESERVATION_JOB_PREFIX):
        # Its job name would be sac-res-<rest>: reservation <rest>'s.
        raise UsageError(f"agent names may not start with 'res-': {name!r} would act on the job of reservation "
                         f"{name[len(RESERVATION_JOB_PREFIX):]!r}")
    rec = reg["agents"].get(name) or reg["stopped"].get(name)
    if rec:
        return spec_from_record(name, rec), rec["host"]
    (spec,) = resolve_agents([name], False)
    return spec, host_of(spec, reg)


# --------------------------------------------------------------------------- batches

# --------------------------------------------------------------------------- agents

def start_plan(specs: list[AgentSpec], force: bool, reg: dict | None = None, fresh: bool = False) -> list[Item]:
    reg = Registry().read() if reg is None else reg
    items = []
    for spec in specs:
        host = host_of(spec, reg)
        args = ("--force",) if force and not spec.tenant else job_hint(spec, reg)
        if fresh and spec.session == "resume":
            args = ("--fresh", *args)
        # spec.env holds the agent's secrets, if any: such a program never goes into
        # the login shell's command line (run.remote.remote_command).
        items.append(Item(spec.name, host, Step(artifact(spec, "start.sh"), args, spec.name,
                                                private=bool(spec.env))))
    return items


def placement(runtime: str, host: str, reservation: str | None) -> str:
    return f"in reservation {reservation} on {host}" if runtime == "slurm-tenant" else f"as runtime slurm on {host}"


def moved_agents(specs: list[AgentSpec], reg: dict) -> list[Outcome]:
    """Agents the registry has running somewhere else than their YAML now says
    (another runtime, reservation or host): starting them there would leave the
    running one behind, out of reach of stop (which acts on the record). Each is
    refused; `sac agent stop NAME` first (it stops what runs, as recorded)."""
    out = []
    for spec in specs:
        rec = reg["agents"].get(spec.name)
        if rec is None:
            continue
        try:
            host = host_of(spec, reg)
        except SacError:
            continue  # said by unplaced or start_plan
        was = placement(rec.get("runtime"), rec.get("host"), rec.get("reservation"))
        now = placement(spec.runtime, host, spec.reservation)
        if was != now:
            job = f" (job {rec['job_id']})" if rec.get("job_id") else ""
            out.append(Outcome(spec.name, host, False, {"moved": True}, error=(
                f"agent {spec.name} was started {was}{job}; its YAML now says {now}: stop it first "
                f"(sac agent stop {spec.name} stops it where it runs), then start it again")))
    return out


def unplaced(specs: list[AgentSpec], reg: dict) -> list[Outcome]:
    """Tenants whose reservation is not known here: each is refused, and the
    others still start (`--all` asks for everything that can run)."""
    out = []
    for spec in specs:
        try:
            host_of(spec, reg)
        except OperationFailed as e:  # (a runtime-slurm agent without host: UsageError, for all)
            out.append(Outcome(spec.name, None, False, {"reservation": spec.reservation, "unplaced": True},
                               error=e.message.removeprefix(f"{spec.name}: ")))
    return out


def start_program(specs: list[AgentSpec], force: bool, reg: dict | None = None, fresh: bool = False):
    """What `sac agent start` does, before it does it: (refused, items). refused:
    outcomes of the agents it will not start (moved elsewhere, reservation not
    known here). items: for run_grouped, tenant launches of a host batched
    behind one launch-queue.sh step. `--dry-run` prints these."""
    reg = Registry().read() if reg is None else reg
    refused = moved_agents(specs, reg) + unplaced(specs, reg)
    gone = {o.name for o in refused}
    specs = [s for s in specs if s.name not in gone]
    items = start_plan(specs, force, reg, fresh)
    tenants = {s.name for s in specs if s.tenant}
    return refused, batched(items, tenants, "SAC_LAUNCH_BATCH", Kind.LAUNCH_QUEUE)


def start(specs: list[AgentSpec], force: bool = False, fresh: bool = False) -> list[Outcome]:
    Registry().check_writable("started")
    reg = Registry().read()
    refused, items = start_program(specs, force, reg, fresh)
    if not items:
        return refused
    outcomes = merge_queued(steps.run_grouped(items), Kind.LAUNCH_QUEUE)
    by_name = {s.name: s for s in specs}
    started = [o for o in outcomes if o.ok]
    # A tenant whose session started and then failed (its hook, say) has logs
    # there, and the message says `see: sac agent logs NAME`: its name must find
    # them, wherever its YAML is. (No other failed start changes the registry.)
    failed = [o for o in outcomes if not o.ok and "sac agent logs" in (o.error or "")]
    # Kept as running, so that status, list and stop reach them: agents whose
    # start may have happened (the connection broke while the script ran), and
    # a runtime-slurm agent found already running that this registry did not
    # know of (started from elsewhere, or by a start whose answer was lost).
    lost = [o for o in outcomes if not o.ok and o.result.get("lost")]
    for o in lost:
        o.error += f"; it is recorded here: sac agent status {o.name} tells, sac agent stop {o.name} stops it"
    adopted = [o for o in outcomes if not o.ok and o.result.get("already") and o.result.get("job_id")
               and o.name not in reg["agents"]]
    if started or failed or lost or adopted:
        with Registry().update() as reg:
            for o in started + failed + lost + adopted:
                spec = by_name[o.name]
                rec = {"runtime": spec.runtime, "host": o.host, "job_id": o.result.get("job_id"),
                       "reservation": spec.reservation, "spec": os.path.realpath(spec.source),
                       "model": spec.model, "session": spec.session, "started_at": now()}
                if o in failed:
                    if o.name not in reg["agents"]:
                        reg["stopped"][o.name] = rec
                elif o.ok or o.name not in reg["agents"]:
                    reg["stopped"].pop(o.name, None)
                    reg["agents"][o.name] = rec
    return refused + outcomes


def _prefetched(items: list[Item], specs: dict[str, AgentSpec]) -> list[Item]:
    """Before the status steps of a batch on one host, a step that lists the tmux
    panes of every job they look at, all at once (snapshot-prefetch.sh; it takes
    over the batch's environment): when they look at two jobs or more, or at a
    reservation whose running job sac knows (tenant:POOL|JOB|NODE: its listing
    starts before squeue has answered)."""
    targets: dict[str, dict[str, str]] = {}
    for item in items:
        if item.kind is Kind.TARGET:
            spec, args = specs[item.name], item.step.args
            key = f"tenant:{spec.reservation}" if spec.tenant else f"slurm:{spec.name}"
            hint = "|".join((key, *args)) if spec.tenant and len(args) == 2 else key
            targets.setdefault(item.host, {}).setdefault(key, hint)
    out, done = [], set()
    for item in items:
        host, env = item.host, item.step.env
        wanted = targets.get(host, {})
        if env and host not in done and (len(wanted) > 1 or any("|" in t for t in wanted.values())):
            done.add(host)
            out.append(batch_item(Kind.SNAPSHOT_PREFETCH, host, tuple(wanted.values()), env))
            item = item._replace(step=item.step._replace(env=()))
        out.append(item)
    return out


def iso_time(epoch: int | None) -> str | None:
    """EPOCH (seconds) as ISO 8601 in UTC, e.g. 2025-05-01T12:00:00Z."""
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _activity(r: dict) -> None:
    """From what status.sh read in the agent's folder (activity: the state its
    hooks last wrote, activity_epoch: since when; sent_epoch: the last send):
    `activity` is working, idle or waiting while the agent's session is alive,
    else null (the file of an ended or unseen session says nothing about now);
    activity_since and sent_at in ISO 8601. The epochs stay for `wait` (and are
    left out of what is printed)."""
    act, epoch = r.get("activity"), r.get("activity_epoch")
    if act not in ACTIVITIES or r.get("session_alive") is not True or not isinstance(epoch, int):
        act = epoch = None
    r["activity"], r["activity_epoch"] = act, epoch
    r["activity_since"] = iso_time(epoch)
    sent = r.get("sent_epoch")
    r["sent_epoch"] = sent if isinstance(sent, int) else None
    r["sent_at"] = iso_time(r["sent_epoch"])


def status_plan(names: list[str], reg: dict) -> tuple[list[Item], dict[str, AgentSpec]]:
    """The steps of a status of NAMES (several on one host share one squeue,
    sinfo and pane listing), and each name's spec."""
    items, specs = [], {}
    for name in names:
        spec, host = known_agent(name, reg)
        specs[name] = spec
        items.append(Item(name, host, Step(artifact(spec, "status.sh"), job_hint(spec, reg), name)))
    return _prefetched(batched(items, set(names), "SAC_SNAPSHOT", Kind.SNAPSHOT_CLEANUP), specs), specs


def status(names: list[str], runner=None) -> list[Outcome]:
    """The live state of each agent. RUNNER: how a host's steps run (default: a
    connection of their own; a KeptSession's run for repeated rounds)."""
    reg = Registry().read()
    items, specs = status_plan(names, reg)
    ran = steps.run_grouped(items) if runner is None else steps.run_grouped(items, runner=runner)
    outcomes = [o for o in ran if o.kind is Kind.TARGET]
    for o in outcomes:
        _activity(o.result)
        o.result.setdefault("name", o.name)
        o.result["host"] = o.host
        if o.unreachable or not o.result.get("state"):
            o.result.update(state="UNKNOWN", session_alive=None, error=o.error)
        spec = specs[o.name]
        for key, value in (("runtime", spec.runtime), ("reservation", spec.reservation), ("job_id", None),
                           ("node", None), ("session_alive", None)):
            o.result.setdefault(key, value)
        # "Could not ask" is not a failure to report as stopped; but it is an error.
        o.ok = o.result.get("state") != "UNKNOWN"
    # Refresh the cached job ids (the chain moves on with every resubmit), and
    # what each reservation's tenants found of it (its running job and node,
    # which later calls go by; or that it no longer runs) -- on the host it was
    # booked on, and only if no one re-booked it while this status ran.
    moved = [o for o in outcomes if o.ok and o.name in reg["agents"]
             and reg["agents"][o.name].get("job_id") != o.result.get("job_id") and o.result.get("job_id")]
    pools = {}
    for o in outcomes:
        pool = o.result.get("reservation")
        rec = reg["reservations"].get(pool or "")
        if not o.ok or rec is None or rec.get("host") != o.host:
            continue
        seen = (o.result.get("job_id"), o.result.get("node"), o.result.get("state"))
        if (rec.get("job_id"), rec.get("node"), rec.get("state")) != seen:
            pools[pool] = (rec.get("job_id"), seen)
    if moved or pools:
        try:
            with Registry().update() as r:
                for o in moved:
                    if o.name in r["agents"]:
                        r["agents"][o.name]["job_id"] = o.result["job_id"]
                for pool, (read, (job, node, state)) in pools.items():
                    rec = r["reservations"].get(pool)
                    if rec is not None and rec.get("job_id") == read:
                        rec.update(job_id=job, node=node, state=state)
        except SacError:
            pass  # a cache; status itself succeeded
    return outcomes


def logs(name: str, lines: int) -> Outcome:
    reg = Registry().read()
    spec, host = known_agent(name, reg)
    step = Step(artifact(spec, "logs.sh"), (str(lines), *job_hint(spec, reg)), name)
    (o,) = steps.run_grouped([Item(name, host, step)])
    if o.ok and "text_b64" in o.result:
        o.result["text"] = base64.b64decode(o.result["text_b64"]).decode("utf-8", "replace")
    return o


def attach(name: str) -> int:
    reg = Registry().read()
    spec, host = known_agent(name, reg)
    return run_interactive(host, artifact(spec, "attach.sh"))


def stop(names: list[str]) -> list[Outcome]:
    reg = Registry().read()
    items, tenants = [], set()
    for name in names:
        spec, host = known_agent(name, reg)
        items.append(Item(name, host, Step(artifact(spec, "stop.sh"), (), name)))
        if spec.tenant:
            tenants.add(name)
    outcomes = merge_queued(steps.run_grouped(batched(items, tenants, "SAC_STOP_BATCH", Kind.STOP_QUEUE)),
                            Kind.STOP_QUEUE)
    done = [o.name for o in outcomes if o.ok]
    if done:
        with Registry().update() as r:
            for n in done:
                # Off the list of running agents; kept, so that its name still
                # finds its logs and status (its YAML may be anywhere).
                rec = r["agents"].pop(n, None)
                if rec:
                    r["stopped"][n] = rec
    return outcomes




# --------------------------------------------------------------------------- talking to agents

def send_text_problem(text: str) -> str | None:
    """Why TEXT cannot be typed into an agent (None: it can). Tab and newline
    are the only control characters let through: any other would act as a key
    (Enter, C-c, Escape ...) in the middle of the message, and the end-of-paste
    sequence would end the paste early."""
    if "\x1b[201~" in text:
        return "the text holds the end-of-paste sequence (ESC [201~), which would cut the message short"
    for i, ch in enumerate(text):
        code = ord(ch)
        if (code < 0x20 and ch not in "\t\n") or 0x7f <= code < 0xa0:
            line = text.count("\n", 0, i) + 1
            return (f"the text holds the control character U+{code:04X} (line {line}); only tab and newline "
                    "may be sent as text (special keys: --key)")
        if 0xd800 <= code < 0xe000:
            return "the text is not valid UTF-8"
    return None


def send_plan(names: list[str], text: str, enter: bool, keys: list[str], reg: dict) -> list[Item]:
    items = []
    for name in names:
        spec, host = known_agent(name, reg)
        flag = "1" if enter else "0"
        args = (flag, *(job_hint(spec, reg) or ("", "")), text, *keys) if spec.tenant else (flag, text, *keys)
        # The text travels inside the program on ssh's standard input, never in a
        # command line (run.remote.remote_command: a private step).
        items.append(Item(name, host, Step(artifact(spec, "send.sh"), args, name, private=True)))
    return items


def send(names: list[str], text: str, enter: bool = True, keys: list[str] | None = None) -> list[Outcome]:
    """Type TEXT (then Enter, unless not ENTER; then KEYS) into each agent's pane:
    one connection per host."""
    reg = Registry().read()
    outcomes = steps.run_grouped(send_plan(names, text, enter, list(keys or ()), reg))
    for o in outcomes:
        o.result.setdefault("name", o.name)
        o.result["host"] = o.host
        o.result["sent_at"] = iso_time(o.result.get("sent_epoch")) if isinstance(o.result.get("sent_epoch"), int) \
            else None
    return outcomes


def has_ended(r: dict) -> bool:
    """No job or session of the agent is left (as status found it): runtime
    slurm, no job of its chain queued or running; a tenant, no session in its
    reservation (or no running reservation). Not when it could not be asked."""
    state = r.get("state")
    if state == "ABSENT":
        return True
    return r.get("runtime") == "slurm-tenant" and state == "RUNNING" and r.get("session_alive") is False


def reached(r: dict, until: str) -> bool:
    """Whether status result R shows the agent in state UNTIL: ended (has_ended),
    or the activity idle / waiting, entered no earlier than the second of the
    last send (the send waits for the second after the last state, on the same
    node's clock, so a state of that second came after it)."""
    if until == "ended":
        return has_ended(r)
    if r.get("activity") != until:
        return False
    sent, since = r.get("sent_epoch"), r.get("activity_epoch")
    return sent is None or (since is not None and since >= sent)


class Sessions:
    """Kept-open connections, one per host, for repeated rounds (wait, watch)."""

    def __init__(self):
        self._kept: dict[str, KeptSession] = {}

    def run(self, host: str, steps_: list[Step]):
        if host not in self._kept:
            self._kept[host] = KeptSession(host)
        return self._kept[host].run(steps_)

    def close(self) -> None:
        for kept in self._kept.values():
            kept.close()
        self._kept.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait(names: list[str], until: str, timeout: float | None, interval: float = 5.0, report=None) -> tuple[int, dict]:
    """Ask every INTERVAL seconds, over one kept connection per host, until each
    agent has reached UNTIL (reached()); an agent that has reached it is not
    asked again. Returns (exit status, {name: last status result}): 0 all
    reached; 1 timed out, or an agent ended before it reached idle / waiting; 3
    the time ran out while a host could not be reached. REPORT(outcomes) sees
    every round."""
    reg = Registry().read()
    for name in names:
        known_agent(name, reg)  # unknown names: exit 2 before anything runs
    left = list(dict.fromkeys(names))
    last: dict = {}
    unreachable = False
    deadline = None if timeout is None else time.monotonic() + timeout
    with Sessions() as sessions:
        while True:
            outcomes = status(left, runner=sessions.run)
            if report:
                report(outcomes)
            unreachable = any(o.unreachable for o in outcomes)
            for o in outcomes:
                last[o.name] = dict(o.result, _error=o.error, _ok=o.ok)
                if not o.ok:
                    continue
                if reached(o.result, until):
                    left.remove(o.name)
                elif until != "ended" and has_ended(o.result):
                    last[o.name]["_ended"] = True
                    return 1, last
            if not left:
                return 0, last
            at = time.monotonic()
            if deadline is not None and at >= deadline:
                return (3 if unreachable else 1), last
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - at)))

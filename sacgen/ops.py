"""The operations behind `sac`: choose the scripts, group them by host, ship each
group in one connection, read the results, update the registry.

YAML -> spec -> rendered scripts -> remote.run_batch -> results -> Registry.
"""

from __future__ import annotations

import os
import time

from .errors import HostUnreachable, OperationFailed, SacError, UsageError
from .registry import Registry
from .remote import Step, last_line, run_batch, run_interactive
from .spec import RESERVATION_JOB_PREFIX, AgentSpec, ReservationSpec


# --------------------------------------------------------------------------- targets

def _render_one(spec, artifact: str) -> str:
    from .cache import artifact as cached

    return cached(spec, artifact)


def load_agent_files(paths: list, named: list) -> list[AgentSpec]:
    """paths: pathlib.Paths of YAML files or folders. A Reservation file the user
    named (one of NAMED, by its path or its name) is refused: it is booked, not
    started. One found in a folder or by --all is passed over."""
    from .spec import load_specs

    specs = load_specs([str(p) for p in paths], cached=True)
    agents = [s for s in specs if isinstance(s, AgentSpec)]
    named = {os.path.realpath(p) for p in named if not p.is_dir()}
    for s in specs:
        if not isinstance(s, AgentSpec) and os.path.realpath(s.source) in named:
            raise UsageError(f"{s.source}: is a Reservation; book it with `sac reservations book` instead")
    if not agents:
        raise UsageError(f"no Agent YAMLs in {', '.join(str(p) for p in paths)} (only Reservations)")
    return agents


def resolve_agents(targets: list[str], all_: bool) -> list[AgentSpec]:
    """PATHs and NAMEs (looked up by discovery) -> validated agent specs."""
    from pathlib import Path

    from .discovery import discover, discovery_dirs, looks_like_path

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
    names = {}
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
                     model=rec.get("model") or "-", reservation=rec.get("reservation"))


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

class Outcome:
    """What one operation did for one agent or reservation on its host."""

    __slots__ = ("name", "host", "ok", "result", "error", "unreachable", "results")

    def __init__(self, name: str, host: str, ok: bool, result: dict | None = None, error: str = "",
                 unreachable: bool = False, results: list | None = None):
        self.name, self.host, self.ok = name, host, ok
        self.result = {} if result is None else result
        self.error, self.unreachable = error, unreachable
        self.results = [] if results is None else results

    def __repr__(self) -> str:
        return "Outcome(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def run_grouped(items: list[tuple[str, str, Step]]) -> list[Outcome]:
    """items: (name, host, step). One connection per host. Hosts that cannot be
    reached give outcomes with unreachable=True; the others still run."""
    by_host: dict[str, list[tuple[str, Step]]] = {}
    for name, host, step in items:
        by_host.setdefault(host, []).append((name, step))
    out: list[Outcome] = []
    for host, group in by_host.items():
        try:
            batch = run_batch(host, [s for _, s in group])
        except HostUnreachable as e:
            out.extend(Outcome(n, host, False, error=e.message, unreachable=True) for n, _ in group)
            continue
        for (name, _), step in zip(group, batch.steps):
            r = step.result
            if r is None and step.status is None and batch.lost:
                out.append(Outcome(name, host, False, {"lost": True}, error=batch.lost))
            elif r is None:
                detail = last_line(batch.stderr)
                if step.status is not None:
                    why = f"the script on {host} ended without a result (exit {step.status})"
                else:  # it never ran, or never finished: what the ssh command said
                    why = f"no answer from the script on {host} (the ssh command ended with exit {batch.returncode})"
                out.append(Outcome(name, host, False, error=f"{why}: {detail}" if detail else why))
            else:
                # (A result line is a script's last: one whose end marker a broken
                # connection kept from us still said how it went.)
                ok = bool(r.get("ok", True)) and (step.status == 0 or step.status is None and bool(batch.lost))
                out.append(Outcome(name, host, ok, r, error=r.get("error") or "", results=step.results))
    return out


def exit_status(outcomes: list[Outcome]) -> int:
    if any(o.unreachable for o in outcomes):
        return 3
    return 0 if all(o.ok for o in outcomes) else 1


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --------------------------------------------------------------------------- agents

def start_plan(specs: list[AgentSpec], force: bool, reg: dict | None = None) -> list[tuple[str, str, Step]]:
    reg = Registry().read() if reg is None else reg
    items = []
    for spec in specs:
        host = host_of(spec, reg)
        args = ("--force",) if force and not spec.tenant else job_hint(spec, reg)
        # spec.env holds the agent's secrets, if any: such a program never goes into
        # the login shell's command line (sacgen.remote.remote_command).
        items.append((spec.name, host, Step(_render_one(spec, "start.sh"), args, spec.name,
                                            private=bool(spec.env))))
    return items


LAUNCH = "(launch)"


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


def start_program(specs: list[AgentSpec], force: bool, reg: dict | None = None):
    """What `sac agent start` does, before it does it: (refused, items). refused:
    outcomes of the agents it will not start (moved elsewhere, reservation not
    known here). items: (name, host, step) for run_grouped, tenant launches of a
    host batched behind one launch-queue.sh step. `--dry-run` prints these."""
    reg = Registry().read() if reg is None else reg
    refused = moved_agents(specs, reg) + unplaced(specs, reg)
    gone = {o.name for o in refused}
    specs = [s for s in specs if s.name not in gone]
    items = start_plan(specs, force, reg)
    tenants = {s.name for s in specs if s.tenant}
    return refused, _batched(items, tenants, "SAC_LAUNCH_BATCH", LAUNCH, "launch-queue.sh")


def start(specs: list[AgentSpec], force: bool = False) -> list[Outcome]:
    Registry().check_writable("started")
    reg = Registry().read()
    refused, items = start_program(specs, force, reg)
    if not items:
        return refused
    outcomes = _merge_queued(run_grouped(items), LAUNCH)
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
                       "model": spec.model, "started_at": _now()}
                if o in failed:
                    if o.name not in reg["agents"]:
                        reg["stopped"][o.name] = rec
                elif o.ok or o.name not in reg["agents"]:
                    reg["stopped"].pop(o.name, None)
                    reg["agents"][o.name] = rec
    return refused + outcomes


def _batched(items, members: set, env_key: str, label: str, helper: str):
    """Where one host gets several of `members`, the first step of its connection
    exports env_key (a batch id, which holds for every later step too) and a last
    step runs `helper`. Used for tenant launches and stops (queued by start.sh /
    stop.sh, done by launch-queue.sh / stop-queue.sh: one srun per reservation,
    not per tenant) and for status (one squeue, one sinfo and one tmux listing per
    server for all, removed by snapshot-cleanup.sh)."""
    per_host: dict[str, int] = {}
    for name, host, _ in items:
        if name in members:
            per_host[host] = per_host.get(host, 0) + 1
    batched_hosts = {h for h, n in per_host.items() if n > 1}
    batch = f"{os.getpid()}-{time.time_ns()}"
    out, first = [], set()
    for name, host, step in items:
        if host in batched_hosts and host not in first:
            first.add(host)
            step = step._replace(env=((env_key, batch),))
        out.append((name, host, step))
    for host in batched_hosts:
        out.append((label, host, Step(_render_one(None, helper), (), label)))
    return out


def _merge_queued(outcomes: list[Outcome], label: str) -> list[Outcome]:
    """Queued tenants take their result from the queue step's results."""
    queues = {o.host: o for o in outcomes if o.name == label}
    merged = []
    for o in outcomes:
        if o.name == label:
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


SNAPSHOT = "(snapshot)"
PREFETCH = "(prefetch)"


def _prefetched(items, specs: dict) -> list:
    """Before the status steps of a batch on one host, a step that lists the tmux
    panes of every job they look at, all at once (snapshot-prefetch.sh; it takes
    over the batch's environment): when they look at two jobs or more, or at a
    reservation whose running job sac knows (tenant:POOL|JOB|NODE: its listing
    starts before squeue has answered)."""
    targets: dict[str, dict[str, str]] = {}
    for name, host, step in items:
        spec = specs.get(name)
        if spec is not None:
            key = f"tenant:{spec.reservation}" if spec.tenant else f"slurm:{spec.name}"
            hint = "|".join((key, *step.args)) if spec.tenant and len(step.args) == 2 else key
            targets.setdefault(host, {}).setdefault(key, hint)
    out, done = [], set()
    for name, host, step in items:
        wanted = targets.get(host, {})
        if step.env and host not in done and (len(wanted) > 1 or any("|" in t for t in wanted.values())):
            done.add(host)
            out.append((PREFETCH, host, Step(_render_one(None, "snapshot-prefetch.sh"), tuple(wanted.values()),
                                             PREFETCH, env=step.env)))
            step = step._replace(env=())
        out.append((name, host, step))
    return out


def status(names: list[str]) -> list[Outcome]:
    reg = Registry().read()
    items, specs = [], {}
    for name in names:
        spec, host = known_agent(name, reg)
        specs[name] = spec
        items.append((name, host, Step(_render_one(spec, "status.sh"), job_hint(spec, reg), name)))
    batched = _prefetched(_batched(items, set(names), "SAC_SNAPSHOT", SNAPSHOT, "snapshot-cleanup.sh"), specs)
    outcomes = [o for o in run_grouped(batched) if o.name not in (SNAPSHOT, PREFETCH)]
    for o in outcomes:
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
    (o,) = run_grouped([(name, host, Step(_render_one(spec, "logs.sh"), (str(lines), *job_hint(spec, reg)), name))])
    if o.ok and "text_b64" in o.result:
        import base64

        o.result["text"] = base64.b64decode(o.result["text_b64"]).decode("utf-8", "replace")
    return o


def attach(name: str) -> int:
    reg = Registry().read()
    spec, host = known_agent(name, reg)
    return run_interactive(host, _render_one(spec, "attach.sh"))


STOP = "(stop)"


def stop(names: list[str]) -> list[Outcome]:
    reg = Registry().read()
    items, tenants = [], set()
    for name in names:
        spec, host = known_agent(name, reg)
        items.append((name, host, Step(_render_one(spec, "stop.sh"), (), name)))
        if spec.tenant:
            tenants.add(name)
    outcomes = run_grouped(_batched(items, tenants, "SAC_STOP_BATCH", STOP, "stop-queue.sh"))
    outcomes = _merge_queued(outcomes, STOP)
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


# --------------------------------------------------------------------------- reservations

RES_FLAG = {"host": "--host", "partition": "--partition", "cpus": "--cpus", "mem": "--mem", "time": "--time",
            "tmux_server": "--tmux-server", "persistent": "--persistent", "hold_body": "--hold-body",
            "resubmit_before": "--resubmit-before", "account": "--account", "qos": "--qos"}


def reservation_spec(name: str, fields: dict) -> ReservationSpec:
    """Validate command-line fields with the same schema as a Reservation YAML."""
    from .loader import Document
    from .schema import check_document
    from .spec import reservation_from_data

    data = {"apiVersion": "scitex-agent-container/v3", "kind": "Reservation",
            "spec": {k: v for k, v in fields.items() if v is not None}}
    for key in ("cpus", "resubmit_before"):
        value = data["spec"].get(key)
        if isinstance(value, str) and (value == "0" or value[:1] in "123456789" and value.isdigit()):
            data["spec"][key] = int(value)
    doc = Document("(command line)", data, {})
    _, problems = check_document(doc, name)
    if problems:
        lines = []
        for p in problems:
            flag = RES_FLAG.get(p.field.split(".")[-1], p.field) if p.field.startswith("spec.") else "NAME"
            hint = "; give a shorter --resubmit-before (seconds)" if "resubmit lead" in p.message else ""
            lines.append(f"sac: {flag}: {p.message}{hint}")
        raise UsageError("\n".join(lines)[len("sac: "):])
    return reservation_from_data(name, "(command line)", data)


def _reservation_record_spec(name: str, rec: dict) -> ReservationSpec:
    from .spec import reservation_from_data

    data = {"spec": dict(rec.get("spec") or {"host": rec["host"]})}
    data["spec"]["host"] = rec["host"]
    return reservation_from_data(name, rec.get("source") or "(registry)", data)


def book(spec: ReservationSpec, wait_seconds: int) -> Outcome:
    Registry().check_writable("booked")
    try:
        (o,) = run_grouped([(spec.name, spec.host, Step(_render_one(spec, "book.sh"), (str(wait_seconds),),
                                                        spec.name, private=spec.hold_body is not None))])
    except KeyboardInterrupt:
        # Interrupted (while it waited for the job to run, most likely): its job
        # may be queued. Known here, `get` finds it and `release` cancels it.
        with Registry().update() as r:
            _record_booking(r, spec, {"state": "UNKNOWN"})
        raise
    if o.ok:
        with Registry().update() as r:
            _record_booking(r, spec, o.result)
    elif o.result.get("lost"):
        # Its job may be queued: known here, `get` finds it and `release` cancels it.
        with Registry().update() as r:
            _record_booking(r, spec, {"state": "UNKNOWN"})
        o.error += (f"; its job may be queued: it is recorded here, sac reservations get {spec.name} shows it, "
                    f"sac reservations release {spec.name} cancels it")
    return o


def _record_booking(reg: dict, spec: ReservationSpec, result: dict) -> None:
    fields = {k: getattr(spec, k) for k in RES_FLAG if getattr(spec, k) is not None}
    reg["reservations"][spec.name] = {
        "host": spec.host, "job_id": result.get("job_id"), "state": result.get("state"),
        "node": result.get("node"), "tmux_server": spec.tmux_server, "persistent": spec.persistent,
        "spec": fields, "source": spec.source if spec.source.startswith("(") else os.path.realpath(spec.source),
        "booked_at": _now(),
    }


def reservation_known(name: str, reg: dict, host: str | None = None) -> tuple[ReservationSpec, dict]:
    rec = reg["reservations"].get(name)
    if rec is None:
        if host is None:
            raise OperationFailed(f"reservation '{name}' is not known here; book it with `sac reservations book "
                                  f"{name} --host HOST --tmux-server sac`, or adopt one booked elsewhere with "
                                  f"`sac reservations refresh {name} --host HOST`")
        rec = {"host": host, "spec": {"host": host}}
    return _reservation_record_spec(name, rec), rec


def reservation_status(names: list[str], host: str | None = None, save: bool = True) -> list[Outcome]:
    reg = Registry().read()
    items = []
    for name in names:
        spec, rec = reservation_known(name, reg, host)
        items.append((name, spec.host, Step(_render_one(spec, "status.sh"), (), name)))
    outcomes = run_grouped(items)
    for o in outcomes:
        o.result.setdefault("name", o.name)
        o.result["host"] = o.host
        if o.unreachable or not o.result.get("state"):
            o.result.update(state="UNKNOWN", error=o.error)
        rec = reg["reservations"].get(o.name) or {}
        for key in ("job_id", "node", "tmux_server", "persistent"):
            o.result.setdefault(key, rec.get(key))
        o.result["extras"] = {"tmux_server": o.result.get("tmux_server")}
        old = (reg["reservations"].get(o.name) or {}).get("job_id")
        o.result["previous_job_id"] = old
        o.ok = o.result.get("state") != "UNKNOWN"
        if o.ok and o.name not in reg["reservations"] and o.result.get("state") == "ABSENT":
            # Adopting (refresh --host) what is not there: nothing to adopt.
            o.ok = False
            o.error = (f"no reservation '{o.name}' on {o.host}: no job sac-res-{o.name} is queued or running "
                       "there; nothing was adopted")
    if save:
        ok = [o for o in outcomes if o.ok]
        if ok:
            with Registry().update() as r:
                for o in ok:
                    rec = r["reservations"].setdefault(o.name, {"host": o.host, "spec": {"host": o.host},
                                                               "source": "(adopted)"})
                    rec.update(job_id=o.result.get("job_id"), state=o.result.get("state"),
                               node=o.result.get("node"), tmux_server=o.result.get("tmux_server"),
                               persistent=o.result.get("persistent"))
    return outcomes


def release(name: str) -> Outcome:
    reg = Registry().read()
    spec, _ = reservation_known(name, reg)
    (o,) = run_grouped([(name, spec.host, Step(_render_one(spec, "release.sh"), (), name))])
    if o.ok:
        with Registry().update() as r:
            r["reservations"].pop(name, None)
            tenants = [n for n, a in r["agents"].items() if a.get("reservation") == name]
            for n in tenants:
                # Its session ended with the job; its name still finds its log.
                r["stopped"][n] = r["agents"].pop(n)
            o.result["tenants_removed"] = tenants
    return o


def run_script(path, host: str, args: tuple) -> tuple[int, str, str]:
    """Run the script at path (a pathlib.Path) on host, privately."""
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

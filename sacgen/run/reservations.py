"""The operations on reservations behind `sac reservations` and `sac lease` (and
`scitex-hpc`): book, get, list, refresh and release a pool's job, and keep the
registry's record of it; run one command in its allocation, or a shell on its
node."""

from __future__ import annotations

import os
import re

from ..compile.check import check_data
from ..compile.model import ReservationSpec, reservation_from_data
from ..errors import OperationFailed, SacError, UsageError
from . import steps
from .cache import artifact
from .registry import Registry, now
from .remote import Step, last_line, run_interactive, run_passthrough
from .steps import Item, Outcome

RES_FLAG = {"host": "--host", "partition": "--partition", "cpus": "--cpus", "mem": "--mem", "time": "--time",
            "tmux_server": "--tmux-server", "persistent": "--persistent", "hold_body": "--hold-body",
            "resubmit_before": "--resubmit-before", "account": "--account", "qos": "--qos",
            "gpus": "--gpus", "gres": "--gres", "constraint": "--constraint", "nodelist": "--nodelist",
            "exclude": "--exclude", "exclusive": "--exclusive", "mail_type": "--mail-type",
            "mail_user": "--mail-user", "extra_directives": "--extra"}


def reservation_spec(name: str, fields: dict) -> ReservationSpec:
    """Validate command-line fields with the same schema as a Reservation YAML."""
    spec = {k: v for k, v in fields.items() if v is not None}
    for key in ("cpus", "resubmit_before"):
        value = spec.get(key)
        if isinstance(value, str) and (value == "0" or value[:1] in "123456789" and value.isdigit()):
            spec[key] = int(value)
    data = {"apiVersion": "scitex-agent-container/v3", "kind": "Reservation", "spec": spec}
    _, problems = check_data(data, name, "(command line)")
    if problems:
        lines = []
        for p in problems:
            field = p.field.split(".")[-1].split("[")[0]
            flag = RES_FLAG.get(field, p.field) if p.field.startswith("spec.") else "NAME"
            hint = "; give a shorter --resubmit-before (seconds)" if "resubmit lead" in p.message else ""
            lines.append(f"sac: {flag}: {p.message}{hint}")
        raise UsageError("\n".join(lines)[len("sac: "):])
    return reservation_from_data(name, "(command line)", data)


def _reservation_record_spec(name: str, rec: dict) -> ReservationSpec:
    data = {"spec": dict(rec.get("spec") or {"host": rec["host"]})}
    data["spec"]["host"] = rec["host"]
    return reservation_from_data(name, rec.get("source") or "(registry)", data)


def book(spec: ReservationSpec, wait_seconds: int, progress=None) -> Outcome:
    """Submit the reservation's job and wait up to WAIT_SECONDS for it to run.
    PROGRESS: called as the wait goes on (run.remote.run_batch)."""
    Registry().check_writable("booked")
    try:
        (o,) = steps.run_grouped([Item(spec.name, spec.host, Step(artifact(spec, "book.sh"), (str(wait_seconds),),
                                                            spec.name, private=spec.hold_body is not None))],
                                 progress=progress)
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
    fields = {k: getattr(spec, k) for k in RES_FLAG if getattr(spec, k) not in (None, ())}
    reg["reservations"][spec.name] = {
        "host": spec.host, "job_id": result.get("job_id"), "state": result.get("state"),
        "node": result.get("node"), "tmux_server": spec.tmux_server, "persistent": spec.persistent,
        "spec": fields, "source": spec.source if spec.source.startswith("(") else os.path.realpath(spec.source),
        "booked_at": now(),
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
        items.append(Item(name, spec.host, Step(artifact(spec, "status.sh"), (), name)))
    outcomes = steps.run_grouped(items)
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
    (o,) = steps.run_grouped([Item(name, spec.host, Step(artifact(spec, "release.sh"), (), name))])
    if o.ok:
        with Registry().update() as r:
            r["reservations"].pop(name, None)
            tenants = [n for n, a in r["agents"].items() if a.get("reservation") == name]
            for n in tenants:
                # Its session ended with the job; its name still finds its log.
                r["stopped"][n] = r["agents"].pop(n)
            o.result["tenants_removed"] = tenants
    return o


# A node's name as SLURM writes it (NodeName): letters, digits, `.`, `_`, `-`.
_NODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def node_arg(node: str | None) -> str:
    """--node, refused (exit 2) unless it is a node's name; "" when not given."""
    if node is None:
        return ""
    if not _NODE.fullmatch(node):
        raise UsageError(f"--node: {node!r} is not a node name (letters, digits, '.', '_' and '-')")
    return node


def exec_in(name: str, node: str | None, login: bool, command: list[str]) -> int:
    """Run COMMAND inside reservation NAME's running job (a step on NODE, default
    its first node), its stdout and stderr passed through to ours as they come,
    in one connection. Returns the command's exit status; sac's own failures
    raise (1: not running, no answer; 2: NODE is not one of the job's; 3: host
    unreachable), having said nothing on stdout."""
    spec, _ = reservation_known(name, Registry().read())
    mark = os.urandom(16).hex()
    step = Step(artifact(spec, "exec.sh"), (mark, node_arg(node), "1" if login else "0", *command), name,
                private=True)
    p = run_passthrough(spec.host, step, mark)
    if p.started:
        if p.status is not None:
            return p.status
        if p.ended is not None:
            raise OperationFailed(f"{name}: the step ended before the command did, which left no exit status "
                                  f"(srun exit {p.ended}; srun's message is above)")
        raise OperationFailed(f"{name}: the connection to {spec.host} broke while the command ran "
                              f"({last_line(p.stderr) or f'exit {p.returncode}'}): its exit status is not known")
    refused = [r for r in p.results if not r.get("ok", True)]
    if refused:
        r = refused[-1]
        raise SacError(f"{name}: {r.get('error')}", status=2 if r.get("status") == 2 else 1)
    if p.ended is not None:
        raise OperationFailed(f"{name}: the command could not start in the reservation's job on {spec.host} "
                              f"(srun exit {p.ended}; srun's message is above)")
    why = last_line(p.stderr)
    raise OperationFailed(f"{name}: no answer from the script on {spec.host} (exit {p.returncode})"
                          + (f": {why}" if why else ""))


def attach(name: str, node: str | None) -> int:
    """An interactive login shell on reservation NAME's node (NODE, default its
    first), inside its job, on the user's terminal; its exit status."""
    spec, _ = reservation_known(name, Registry().read())
    return run_interactive(spec.host, artifact(spec, "attach.sh"), (node_arg(node),))

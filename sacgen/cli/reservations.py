"""`sac reservations ...` and `scitex-hpc reservations ...`."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from ..compile.model import ReservationSpec
from ..errors import UsageError
from ..run import remote, reservations
from ..run.cache import load_specs
from ..run.discovery import looks_like_path
from ..run.registry import Registry
from ..run.steps import exit_status
from . import output
from .parsers import name_arg


def _reservation_file(args):
    """The Reservation a YAML file describes; the flags that would say the same
    are refused beside it (a file and a flag that disagree: which one is meant?)."""
    # RES_FLAG: the flags that say what a reservation is (the rest say how book behaves).
    given = [flag for key, flag in reservations.RES_FLAG.items() if getattr(args, key) not in (None, False)]
    if given:
        raise UsageError(f"{args.name}: the file sets the reservation's resources and host; leave out "
                         f"{', '.join(given)} (or book by NAME with flags)")
    if os.path.isdir(args.name):
        raise UsageError(f"{args.name}: is a folder; give one Reservation YAML file")
    (spec,) = load_specs([args.name])
    if not isinstance(spec, ReservationSpec):
        raise UsageError(f"{spec.source}: is an Agent; start it with `sac agent start {args.name}`")
    return spec


def _reservation_flags(args):
    name_arg(args.name)
    if not args.host:
        raise UsageError("--host is required when booking by NAME (or give a Reservation YAML file)")
    hold = None
    if args.hold_body:
        try:
            hold = Path(args.hold_body).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or e
            raise UsageError(f"--hold-body: cannot read {args.hold_body}: {why}") from None
    fields = {key: getattr(args, key) for key in reservations.RES_FLAG}
    fields.update(persistent=args.persistent or None, exclusive=args.exclusive or None, hold_body=hold)
    return reservations.reservation_spec(args.name, fields)


def cmd_res_book(args) -> int:
    spec = _reservation_file(args) if looks_like_path(args.name) else _reservation_flags(args)
    wait = 0 if args.no_wait else args.wait_timeout
    if not spec.tmux_server:
        output.err(f"{spec.name}: booking without --tmux-server: tenants cannot run in it")
    if wait:
        print(f"booking {spec.name} on {spec.host}; waiting up to {wait} s for its job to run...", file=sys.stderr)
    progress = output.BookProgress(spec.name)
    def interrupted(signum, frame):
        raise KeyboardInterrupt
    # A closed terminal (SIGHUP) or a kill (SIGTERM) while it waits is an
    # interruption too: the job may be queued, and must be remembered.
    before = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    remote.BEFORE_TRACE = progress.end_line
    try:
        o = reservations.book(spec, wait, progress)
    except KeyboardInterrupt:
        progress.end_line()
        output.err(f"{spec.name}: interrupted; its job may be queued on {spec.host}: sac reservations get {spec.name} "
             f"shows it, sac reservations release {spec.name} cancels it")
        raise
    finally:
        remote.BEFORE_TRACE = None
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if o.ok:
        progress.clear()
    else:
        progress.end_line()
    if args.json:
        output.print_json({"name": spec.name, "host": spec.host, "ok": o.ok, **o.result,
                     "tmux_server": spec.tmux_server, "persistent": spec.persistent, "error": o.error or None})
    elif o.ok:
        r = o.result
        where = f" on {r['node']}" if r.get("node") else ""
        print(f"{spec.name}: booked, job {r.get('job_id')} {r.get('state')}{where} ({spec.host})")
        if r.get("state") != "RUNNING" and wait:
            print(f"{spec.name}: not running after {wait} s; check later with: sac reservations get {spec.name}")
    else:
        output.err(f"{spec.name}: {o.error}")
    return exit_status([o])


def cmd_res_get(args, refresh: bool = False) -> int:
    (o,) = reservations.reservation_status([name_arg(args.name)], host=getattr(args, "host", None))
    r = o.result
    if args.json:
        output.print_json(r)
    elif refresh and o.ok:
        old, new = r.get("previous_job_id"), r.get("job_id")
        moved = f"job {old} -> {new}" if old and old != new else f"job {new or '-'}"
        print(f"{args.name}: {moved} {r.get('state')}" + (f" on {r['node']}" if r.get("node") else ""))
    elif o.ok or r.get("state") == "UNKNOWN":
        print(output.res_line(r))
    if not o.ok:
        output.err(f"{args.name}: {o.error or r.get('error')}")
    if o.unreachable:
        return 3
    return 0 if o.ok else 1


def cmd_res_list(args) -> int:
    names = sorted(Registry().read()["reservations"])
    outcomes = reservations.reservation_status(names) if names else []
    if args.json:
        output.print_json([o.result for o in outcomes])
    elif not outcomes:
        print("no reservations booked from here (sac reservations book NAME --host HOST ...)")
    else:
        for o in outcomes:
            print(output.res_line(o.result))
    output.err_failed(outcomes, "could not ask: ")
    return exit_status(outcomes)


def cmd_res_release(args) -> int:
    o = reservations.release(name_arg(args.name))
    if args.json:
        output.print_json({"name": args.name, "host": o.host, "ok": o.ok, "cancelled": o.result.get("cancelled") or [],
                     "tenants_removed": o.result.get("tenants_removed") or [], "error": o.error or None})
    if not o.ok:
        output.err(f"{args.name}: {o.error}")
        return exit_status([o])
    if not args.json:
        ids = o.result.get("cancelled") or []
        what = f"cancelled job(s) {', '.join(ids)}" if ids else "no job was queued or running"
        print(f"{args.name}: released ({what})")
    return 0


def cmd_lease_exec(args) -> int:
    name_arg(args.name)
    if not args.command:
        raise UsageError(f"lease exec {args.name}: give the command to run after --, e.g. "
                         f"`sac lease exec {args.name} -- hostname`")
    sys.stdout.flush()
    return reservations.exec_in(args.name, args.node, args.shell, args.command)


def cmd_lease_attach(args) -> int:
    name_arg(args.name)
    if not sys.stdin.isatty():
        output.err("attach needs a terminal (run it from an interactive shell; "
                   "`sac lease exec NAME -- COMMAND` runs one command without one)")
        return 2
    return reservations.attach(args.name, args.node)

"""`sac agent ...` and `sac list`."""

from __future__ import annotations

import sys
import time

from ..errors import UsageError
from ..run import agents
from ..run.registry import Registry
from ..run.remote import LOCAL_HOSTS, compose
from ..run.steps import Kind, exit_status
from . import output
from .parsers import name_arg


def cmd_agent_start(args) -> int:
    specs = agents.resolve_agents(args.targets, args.all)
    if args.dry_run:
        refused, plan = agents.start_program(specs, args.force, fresh=args.fresh)
        by_host: dict = {}
        for item in plan:
            by_host.setdefault(item.host, []).append(item)
        names = {host: [i.name for i in items if i.kind is Kind.TARGET] for host, items in by_host.items()}
        if args.json:
            output.print_json([{"host": host, "agents": names[host], "program": compose([i.step for i in items])}
                         for host, items in by_host.items()])
        else:
            for host, items in by_host.items():
                how = "this machine, no ssh" if host in LOCAL_HOSTS else "one ssh connection"
                print(f"# sac would run this on {host} ({how}, {len(names[host])} agent(s)):")
                sys.stdout.write(compose([i.step for i in items]))
        output.err_failed(refused, "would not start: ")
        return exit_status(refused)
    # Named agents must start: one already queued or running (runtime slurm) is
    # refused, exit 1. One that only --all brought in is left as it is: --all
    # asks for everything to run, which it does.
    if not args.all:
        named = {s.name for s in specs}
    else:
        named = {s.name for s in agents.resolve_agents(args.targets, False)} if args.targets else set()
    outcomes = agents.start(specs, args.force, args.fresh)
    counted = [o for o in outcomes if o.ok or not o.result.get("already") or o.name in named]
    status = exit_status(counted)
    if args.json:
        output.print_json([{"name": o.name, "host": o.host, "ok": o.ok, **o.result, "error": o.error or None}
                     for o in outcomes])
        output.err_failed(counted)
        return status
    started = already = failed = 0
    for o in outcomes:
        r = o.result
        if o.ok and r.get("already"):
            already += 1
            print(f"{o.name}: already running in reservation {r.get('reservation')} (job {r.get('job_id')})")
        elif o.ok and r.get("reservation"):
            started += 1
            print(f"{o.name}: started in reservation {r['reservation']} (job {r.get('job_id')} on {r.get('node')})")
        elif o.ok:
            started += 1
            gone = f"; cancelled job(s) {', '.join(r['replaced'])}" if r.get("replaced") else ""
            print(f"{o.name}: submitted job {r.get('job_id')} on {o.host} (PENDING){gone}")
        elif r.get("already"):
            already += 1
            if o.name in named:
                output.err(f"{o.name}: {o.error}")
            else:
                print(f"{o.name}: {o.error}")
        else:
            failed += 1
            output.err(f"{o.name}: {o.error}")
    if len(outcomes) > 1:
        print(f"started {started}, already running {already}, failed {failed}")
    return status


def cmd_agent_status(args) -> int:
    (o,) = agents.status([args.name])
    if args.json:
        output.print_json(output.status_fields(o.result))
    else:
        print(output.describe_status(o.result))
    if not o.ok:
        output.err(f"{args.name}: could not ask: {o.error or o.result.get('error')}")
    if o.unreachable:
        return 3
    return 0 if o.ok else 1


def cmd_list(args) -> int:
    names = sorted(Registry().read()["agents"])
    outcomes = agents.status(names) if names else []
    if args.json:
        output.print_json([output.status_fields(o.result) for o in outcomes])
    elif not outcomes:
        print("no agents running that were started from here (sac agent start PATH)")
    else:
        now = time.time()
        rows = [output.LIST_HEADER] + [output.list_row(dict(o.result, name=o.name, host=o.host), now)
                                       for o in outcomes]
        print(output.table(rows))
    output.err_failed(outcomes, "could not ask: ")
    return exit_status(outcomes)


def cmd_agent_logs(args) -> int:
    o = agents.logs(args.name, args.lines)
    if not o.ok:
        output.err(f"{args.name}: {o.error}")
        return 3 if o.unreachable else 1
    if o.result.get("source") != "pane":
        output.err(f"{args.name} has no live session; showing the last {args.lines} lines of {o.result.get('path')}")
    sys.stdout.write(o.result.get("text", ""))
    return 0


def cmd_agent_attach(args) -> int:
    if not sys.stdin.isatty():
        output.err("attach needs a terminal (run it from an interactive shell)")
        return 2
    return agents.attach(args.name)


def cmd_agent_stop(args) -> int:
    names = list(dict.fromkeys(args.names))  # a name given twice is stopped once
    if args.all:
        names += [n for n in sorted(Registry().read()["agents"]) if n not in names]
        if not names:
            if args.json:
                output.print_json([])
            else:
                print("no agents running that were started from here; nothing to stop")
            return 0
    if not names:
        raise UsageError("name at least one agent, or use --all")
    outcomes = agents.stop(names)
    if args.json:
        output.print_json([{"name": o.name, "host": o.host, "ok": o.ok, **o.result, "error": o.error or None}
                     for o in outcomes])
        output.err_failed(outcomes)
        return exit_status(outcomes)
    for o in outcomes:
        r = o.result
        if not o.ok:
            output.err(f"{o.name}: {o.error}")
        elif "killed" in r:
            what = "session killed" if r["killed"] else "no session was running (nothing to stop)"
            live = r.get("reservation_state") not in ("ABSENT", "")
            print(f"{o.name}: {what}; reservation {r.get('reservation')} "
                  + ("still booked" if live else "has no live job (released, or ended)"))
        elif r.get("cancelled"):
            print(f"{o.name}: cancelled job(s) {', '.join(r['cancelled'])} on {o.host}")
        else:
            print(f"{o.name}: no job was queued or running (nothing to stop)")
    return exit_status(outcomes)


def cmd_agent_migrate(args) -> int:
    from ..run.migrate import migrate  # PyYAML: only for migrate

    print(migrate(args.file, name_arg(args.reservation)))
    return 0

"""`sac` (and `scitex-hpc`): run agents and reservations on SLURM over plain ssh.

Thin: parse arguments, call sacgen.ops, print. Heavy modules load lazily so that
`sac --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__

EPILOG = """examples:
  sac agent start head-spartan/head-spartan.yaml   # submit one agent (runtime slurm)
  sac agent status head-spartan                    # job chain + tmux pane state
  sac agent attach head-spartan                    # your terminal in its tmux (C-b d detaches)
  sac agent logs head-spartan -n 100               # last lines of its pane
  sac agent stop head-spartan                      # cancel its jobs
  sac reservations book dev-pool --host spartan --cpus 8 --mem 32G --time 7-0 \\
      --tmux-server sac --persistent
  sac agent start --all                            # every discovered YAML, one ssh per host
  sac list
  sac connect spartan                              # log in once (password, one-time code)
"""

def _columns() -> int:
    """The terminal's width, as shutil.get_terminal_size() tells it (COLUMNS, then
    the terminal, else 80), without importing shutil for every `sac` call."""
    import os

    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error says what is wrong first, on one line
    (`sac agent: invalid choice: ...`), and the usage after it."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}\n{self.format_usage()}")


class RF(argparse.RawDescriptionHelpFormatter):
    """Help as written (examples keep their lines), as wide as the terminal."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _count(lo: int, hi: int):
    """An argparse type: a whole number from lo to hi, in plain digits."""
    def parse(text: str) -> int:
        if not text.isascii() or not text.isdigit() or not lo <= int(text) <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {lo} to {hi:,}")
        return int(text)
    parse.__name__ = "count"
    return parse


def _reservation_parsers(sub, prog_hint: str) -> None:
    book = sub.add_parser("book", help="book a reservation: submit its job and wait until it runs", formatter_class=RF,
                          epilog=f"examples:\n  {prog_hint} book dev-pool --host spartan --partition cascade \\\n"
                                 "      --cpus 8 --mem 32G --time 7-0 --tmux-server sac --persistent\n"
                                 f"  {prog_hint} book dev-pool/dev-pool.yaml      # a Reservation file says it all")
    book.add_argument("name", metavar="NAME|FILE",
                      help="the reservation's name, with the flags below; or a Reservation YAML file, "
                           "which sets them all (its name is the file's stem)")
    book.add_argument("--host", help="ssh destination of the submission host (required with NAME)")
    book.add_argument("--partition")
    book.add_argument("--account")
    book.add_argument("--qos")
    book.add_argument("--cpus", help="CPUs of the allocation")
    book.add_argument("--mem", help="memory, e.g. 32G")
    book.add_argument("--time", help="walltime in any SLURM format, e.g. 7-0")
    book.add_argument("--tmux-server", metavar="S", help="run tmux -L S as the job's main process (tenants need it)")
    book.add_argument("--persistent", action="store_true", help="resubmit before walltime and relaunch the tenants")
    book.add_argument("--resubmit-before", metavar="SECONDS", help="lead time of the walltime signal (default 3600)")
    book.add_argument("--hold-body", metavar="FILE", help="commands sourced in the job before the tmux server starts")
    book.add_argument("--no-wait", action="store_true", help="return once submitted")
    book.add_argument("--wait-timeout", type=_count(0, 7 * 86400), default=300, metavar="SECONDS",
                      help="how long to wait for the job to run, 0 to 604800 (default 300; 0: like --no-wait)")
    book.add_argument("--json", action="store_true")
    get = sub.add_parser("get", help="live state of a reservation", formatter_class=RF,
                         epilog=f"example:\n  {prog_hint} get dev-pool --json")
    get.add_argument("name", metavar="NAME")
    get.add_argument("--json", action="store_true")
    lst = sub.add_parser("list", help="every reservation booked from here", formatter_class=RF,
                         epilog=f"example:\n  {prog_hint} list")
    lst.add_argument("--json", action="store_true")
    ref = sub.add_parser("refresh", help="find the live job of the chain and update the cached id", formatter_class=RF,
                         epilog=f"examples:\n  {prog_hint} refresh dev-pool\n"
                                f"  {prog_hint} refresh dev-pool --host spartan   # adopt one booked elsewhere")
    ref.add_argument("name", metavar="NAME")
    ref.add_argument("--host", help="adopt a reservation booked from another machine")
    ref.add_argument("--json", action="store_true")
    rel = sub.add_parser("release", help="cancel the reservation's jobs (its tenants end with it)",
                         formatter_class=RF, epilog=f"example:\n  {prog_hint} release dev-pool")
    rel.add_argument("name", metavar="NAME")
    rel.add_argument("--json", action="store_true")


def _agent_parsers(asub) -> None:
    s = asub.add_parser("start", help="start agents (one ssh per host)", formatter_class=RF,
                        epilog="examples:\n  sac agent start head-spartan/head-spartan.yaml\n"
                               "  sac agent start dev-helper doc-builder\n  sac agent start --all --dry-run")
    s.add_argument("targets", nargs="*", metavar="PATH|NAME")
    s.add_argument("--all", action="store_true", help="every YAML found by discovery")
    s.add_argument("--dry-run", action="store_true", help="print what would be shipped; run nothing")
    s.add_argument("--force", action="store_true", help="runtime slurm: cancel a live job of the agent first")
    s.add_argument("--json", action="store_true")
    st = asub.add_parser("status", help="job chain, node and tmux pane of an agent", formatter_class=RF,
                         epilog="example:\n  sac agent status head-spartan --json")
    st.add_argument("name", metavar="NAME")
    st.add_argument("--json", action="store_true")
    at = asub.add_parser("attach", help="attach your terminal to the agent's tmux session", formatter_class=RF,
                         epilog="example:\n  sac agent attach head-spartan     # detach with C-b d")
    at.add_argument("name", metavar="NAME")
    lg = asub.add_parser("logs", help="last lines of the agent's pane (or its log once the session is gone)",
                         formatter_class=RF, epilog="example:\n  sac agent logs head-spartan -n 100")
    lg.add_argument("name", metavar="NAME")
    lg.add_argument("-n", "--lines", type=_count(1, 100000), default=100, metavar="LINES",
                    help="how many lines, 1 to 100000 (default 100)")
    sp = asub.add_parser("stop", help="stop agents (runtime slurm: cancel the chain; tenant: kill the session)",
                         formatter_class=RF, epilog="examples:\n  sac agent stop head-spartan\n  sac agent stop --all")
    sp.add_argument("names", nargs="*", metavar="NAME")
    sp.add_argument("--all", action="store_true", help="every agent started from here")
    sp.add_argument("--json", action="store_true")
    mg = asub.add_parser("migrate", help="rewrite a runtime-slurm YAML into a tenant of a reservation",
                         formatter_class=RF, epilog="example:\n  sac agent migrate head-spartan/head-spartan.yaml "
                                                    "--reservation dev-pool")
    mg.add_argument("file", metavar="FILE")
    mg.add_argument("--reservation", required=True, metavar="POOL")


def parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole `sac` parser; given the command line ARGV, only the command group
    it names is built in full (the others are listed, with their help, for
    `sac --help` and for messages), which keeps start-up short."""
    group = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    full = argv is None

    def wants(name: str) -> bool:
        return full or group == name

    p = Parser(prog="sac", description="Run AI coding agents on SLURM over plain ssh.",
                                epilog=EPILOG, formatter_class=RF)
    p.add_argument("--version", action="version", version=f"sac (sacgen) {__version__}")
    sub = p.add_subparsers(dest="group", metavar="COMMAND")
    sub.required = True

    agent = sub.add_parser("agent", help="start, inspect and stop agents", epilog=EPILOG, formatter_class=RF)
    if wants("agent"):
        asub = agent.add_subparsers(dest="verb", metavar="VERB")
        asub.required = True
        _agent_parsers(asub)

    ls = sub.add_parser("list", help="every agent started from here, with live state (one ssh per host)",
                        formatter_class=RF, epilog="example:\n  sac list --json")
    if wants("list"):
        ls.add_argument("--json", action="store_true")

    rn = sub.add_parser("run", help="ship one script over ssh and run it", formatter_class=RF,
                        epilog="examples:\n  sac run build/head-spartan/status.sh --host spartan\n"
                               "  sac run build/dev-helper/logs.sh --host spartan -- 200   # ARGs after --")
    if wants("run"):
        rn.add_argument("script", metavar="SCRIPT")
        rn.add_argument("--host", required=True)
        rn.add_argument("args", nargs="*", metavar="ARG", help="arguments for the script (after --)")

    cn = sub.add_parser("connect", help="log in to a host once (password, one-time code); later commands share it",
                        formatter_class=RF,
                        description="Log in to HOST with your terminal, answering whatever the login asks\n"
                                    "(password, key passphrase, one-time code), and keep that connection open:\n"
                                    "every later sac command to HOST rides on it, without logging in again,\n"
                                    "until it has been idle for --persist.",
                        epilog="examples:\n  sac connect spartan                # then sac commands to spartan share it\n"
                               "  sac connect spartan --persist 12h\n  sac connect spartan --check\n"
                               "  sac connect spartan --close")
    if wants("connect"):
        cn.add_argument("host", metavar="HOST", help="ssh destination, as the agents' spec.slurm.host names it")
        cn.add_argument("--persist", default="8h", metavar="DURATION",
                        help="how long it stays open once idle: seconds, or 30m, 8h, 2d... (default 8h)")
        what = cn.add_mutually_exclusive_group()
        what.add_argument("--check", action="store_true", help="say whether it is open (exit 1 if not; 2 if SAC_SSH_CONTROL=0)")
        what.add_argument("--close", action="store_true", help="close it")

    res = sub.add_parser("reservations", help="book, inspect and release reservations (pools for tenants)",
                         formatter_class=RF, epilog="example:\n  sac reservations book dev-pool --host spartan "
                                                    "--tmux-server sac --persistent")
    if wants("reservations"):
        rsub = res.add_subparsers(dest="verb", metavar="VERB")
        rsub.required = True
        _reservation_parsers(rsub, "sac reservations")
    return p


def hpc_parser() -> argparse.ArgumentParser:
    p = Parser(prog="scitex-hpc", description="Reservations: pools of SLURM allocation for tenant "
                                "agents (the same commands as `sac reservations`).", formatter_class=RF,
                                epilog="example:\n  scitex-hpc reservations book dev-pool --host spartan "
                                       "--tmux-server sac --persistent")
    p.add_argument("--version", action="version", version=f"scitex-hpc (sacgen) {__version__}")
    sub = p.add_subparsers(dest="group", metavar="COMMAND")
    sub.required = True
    res = sub.add_parser("reservations", help="book, get, list, refresh, release", formatter_class=RF)
    rsub = res.add_subparsers(dest="verb", metavar="VERB")
    rsub.required = True
    _reservation_parsers(rsub, "scitex-hpc reservations")
    return p


# ----------------------------------------------------------------------------- output

def _err(msg: str) -> None:
    print(f"sac: {msg}", file=sys.stderr)


def _err_failed(outcomes: list, lead: str = "") -> None:
    """One stderr line per outcome that did not succeed, naming what it was about."""
    for o in outcomes:
        if not o.ok:
            _err(f"{o.name}: {lead}{o.error or o.result.get('error')}")


def _print_json(obj) -> None:
    import json

    print(json.dumps(obj, indent=2, sort_keys=True))


def _status_fields(r: dict) -> dict:
    keys = ("name", "runtime", "host", "job_id", "state", "node", "session_alive", "reservation")
    out = {k: r.get(k) for k in keys}
    out.update({k: v for k, v in r.items() if k not in out and k != "text_b64"})
    if out.get("reason") == "None":  # squeue's word for a job waiting on nothing
        out["reason"] = None
    return out


def _describe_status(r: dict) -> str:
    lines = [f"{r['name']}  ({r.get('runtime') or '?'} on {r.get('host')}"
             + (f", reservation {r['reservation']}" if r.get("reservation") else "") + ")"]
    state = r.get("state")
    if state == "UNKNOWN":
        lines.append(f"  state: UNKNOWN — could not ask: {r.get('error')}")
        return "\n".join(lines)
    if state == "ABSENT":
        how = ""
        if r.get("last_exit") is not None:
            how = (f"; in its last job {r.get('last_job') or '?'} the agent exited with status {r['last_exit']}, "
                   f"see: sac agent logs {r['name']}")
        elif r.get("last_job") and not r.get("stopped"):
            how = f"; its last job was {r['last_job']}, see: sac agent logs {r['name']}"
        if r.get("stopped"):
            how += "; stopped (sac agent stop)"
        lines.append(f"  state: ABSENT (no job of this agent is queued or running{how})")
    else:
        extra = f" on {r['node']}" if r.get("node") else ""
        if r.get("node_state"):
            extra += f" (node {r['node_state']})"
        if r.get("time_left"):
            extra += f", time left {r['time_left']}"
        if state == "PENDING" and r.get("reason") not in (None, "", "None"):
            extra += f", reason {r['reason']}"
        lines.append(f"  job {r.get('job_id')}: {state}{extra}")
    alive = r.get("session_alive")
    session = {True: f"alive ({r.get('pane_command') or '?'})", False: "not running",
               None: "unknown"}[alive]
    lines.append(f"  session: {session}")
    if len(r.get("jobs") or []) > 1:
        lines.append("  chain: " + ", ".join(f"{j['job_id']} {j['state']}" for j in r["jobs"]))
    if r.get("error"):
        lines.append(f"  note: {r['error']}")
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


# ----------------------------------------------------------------------------- commands

def cmd_agent_start(args) -> int:
    from . import ops
    from .remote import compose

    specs = ops.resolve_agents(args.targets, args.all)
    if args.dry_run:
        from .remote import LOCAL_HOSTS

        refused, plan = ops.start_program(specs, args.force)
        by_host: dict = {}
        for name, host, step in plan:
            by_host.setdefault(host, []).append((name, step))
        agents = {host: [n for n, _ in items if n != ops.LAUNCH] for host, items in by_host.items()}
        if args.json:
            _print_json([{"host": host, "agents": agents[host], "program": compose([s for _, s in items])}
                         for host, items in by_host.items()])
        else:
            for host, items in by_host.items():
                how = "this machine, no ssh" if host in LOCAL_HOSTS else "one ssh connection"
                print(f"# sac would run this on {host} ({how}, {len(agents[host])} agent(s)):")
                sys.stdout.write(compose([s for _, s in items]))
        _err_failed(refused, "would not start: ")
        return ops.exit_status(refused)
    # Named agents must start: one already queued or running (runtime slurm) is
    # refused, exit 1. One that only --all brought in is left as it is: --all
    # asks for everything to run, which it does.
    if not args.all:
        named = {s.name for s in specs}
    else:
        named = {s.name for s in ops.resolve_agents(args.targets, False)} if args.targets else set()
    outcomes = ops.start(specs, args.force)
    counted = [o for o in outcomes if o.ok or not o.result.get("already") or o.name in named]
    status = ops.exit_status(counted)
    if args.json:
        _print_json([{"name": o.name, "host": o.host, "ok": o.ok, **o.result, "error": o.error or None}
                     for o in outcomes])
        _err_failed(counted)
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
                _err(f"{o.name}: {o.error}")
            else:
                print(f"{o.name}: {o.error}")
        else:
            failed += 1
            _err(f"{o.name}: {o.error}")
    if len(outcomes) > 1:
        print(f"started {started}, already running {already}, failed {failed}")
    return status


def cmd_agent_status(args) -> int:
    from . import ops

    (o,) = ops.status([args.name])
    if args.json:
        _print_json(_status_fields(o.result))
    else:
        print(_describe_status(o.result))
    if not o.ok:
        _err(f"{args.name}: could not ask: {o.error or o.result.get('error')}")
    if o.unreachable:
        return 3
    return 0 if o.ok else 1


def cmd_list(args) -> int:
    from . import ops
    from .registry import Registry

    names = sorted(Registry().read()["agents"])
    outcomes = ops.status(names) if names else []
    if args.json:
        _print_json([_status_fields(o.result) for o in outcomes])
    elif not outcomes:
        print("no agents running that were started from here (sac agent start PATH)")
    else:
        rows = [["NAME", "RUNTIME", "HOST", "JOB", "STATE", "NODE", "SESSION", "RESERVATION"]]
        for o in outcomes:
            r = o.result
            alive = {True: "alive", False: "dead", None: "?"}[r.get("session_alive")]
            rows.append([o.name, r.get("runtime") or "?", o.host, r.get("job_id") or "-", r.get("state"),
                         r.get("node") or "-", alive, r.get("reservation") or "-"])
        print(_table(rows))
    _err_failed(outcomes, "could not ask: ")
    return ops.exit_status(outcomes)


def cmd_agent_logs(args) -> int:
    from . import ops

    o = ops.logs(args.name, args.lines)
    if not o.ok:
        _err(f"{args.name}: {o.error}")
        return 3 if o.unreachable else 1
    if o.result.get("source") != "pane":
        _err(f"{args.name} has no live session; showing the last {args.lines} lines of {o.result.get('path')}")
    sys.stdout.write(o.result.get("text", ""))
    return 0


def cmd_agent_attach(args) -> int:
    from . import ops

    if not sys.stdin.isatty():
        _err("attach needs a terminal (run it from an interactive shell)")
        return 2
    return ops.attach(args.name)


def cmd_agent_stop(args) -> int:
    from . import ops
    from .registry import Registry

    names = list(dict.fromkeys(args.names))  # a name given twice is stopped once
    if args.all:
        names += [n for n in sorted(Registry().read()["agents"]) if n not in names]
        if not names:
            if args.json:
                _print_json([])
            else:
                print("no agents running that were started from here; nothing to stop")
            return 0
    if not names:
        raise _usage("name at least one agent, or use --all")
    outcomes = ops.stop(names)
    if args.json:
        _print_json([{"name": o.name, "host": o.host, "ok": o.ok, **o.result, "error": o.error or None}
                     for o in outcomes])
        _err_failed(outcomes)
        return ops.exit_status(outcomes)
    for o in outcomes:
        r = o.result
        if not o.ok:
            _err(f"{o.name}: {o.error}")
        elif "killed" in r:
            what = "session killed" if r["killed"] else "no session was running (nothing to stop)"
            live = r.get("reservation_state") not in ("ABSENT", "")
            print(f"{o.name}: {what}; reservation {r.get('reservation')} "
                  + ("still booked" if live else "has no live job (released, or ended)"))
        elif r.get("cancelled"):
            print(f"{o.name}: cancelled job(s) {', '.join(r['cancelled'])} on {o.host}")
        else:
            print(f"{o.name}: no job was queued or running (nothing to stop)")
    return ops.exit_status(outcomes)


def cmd_agent_migrate(args) -> int:
    from .migrate import migrate

    print(migrate(args.file, _name(args.reservation)))
    return 0


def cmd_run(args) -> int:
    from pathlib import Path

    from . import ops
    from .remote import END, program_output

    status, out, err = ops.run_script(Path(args.script), args.host, tuple(args.args))
    # The script's output, without sac's first line, the end marker and the
    # newline put before it.
    out = program_output(out)
    end = out.rfind("\n" + END)
    sys.stdout.write(out[:end] if end >= 0 else out)
    sys.stderr.write(err)
    return status


def cmd_connect(args) -> int:
    from . import remote

    if args.host in remote.LOCAL_HOSTS:
        raise _usage(f"{args.host} runs sac's scripts on this machine, without ssh: there is nothing to connect")
    if args.check:
        up = remote.shared_connection(args.host)
        print(f"{args.host}: " + ("a shared connection is open; sac commands to it use it" if up else
                                  "not connected (sac connect HOST opens a shared connection)"))
        return 0 if up else 1
    if args.close:
        closed = remote.close_shared_connection(args.host)
        print(f"{args.host}: " + ("connection closed" if closed else "no shared connection was open"))
        return 0
    if not remote.is_duration(args.persist):
        raise _usage(f"--persist: {args.persist!r} is not a duration of at least a second (e.g. 600, 30m, 8h, "
                     "1h30m, 2d)")
    if remote.open_shared_connection(args.host, args.persist):
        print(f"{args.host}: connected; sac commands to it share this connection until it has been idle for "
              f"{args.persist} (sac connect {args.host} --close ends it)")
    else:
        print(f"{args.host}: already connected; sac commands to it share that connection (its idle limit is "
              f"as it was set: sac connect {args.host} --close, then connect again, to set {args.persist})")
    return 0


def _res_line(r: dict) -> str:
    if r.get("state") == "UNKNOWN":
        return f"{r['name']}: UNKNOWN — could not ask: {r.get('error')}"
    where = f" on {r['node']}" if r.get("node") else ""
    extra = f", tmux server {r['tmux_server']}" if r.get("tmux_server") else ", no tmux server"
    extra += ", persistent" if r.get("persistent") else ""
    tenants = r.get("sessions") or []
    extra += f", running tenants: {', '.join(tenants)}" if tenants else ""
    failed = f"; it ended before it served, {r['failed']}" if r.get("failed") else ""
    return f"{r['name']}: job {r.get('job_id') or '-'} {r.get('state')}{where} ({r.get('host')}{extra}){failed}"


def _reservation_file(args):
    """The Reservation a YAML file describes; the flags that would say the same
    are refused beside it (a file and a flag that disagree: which one is meant?)."""
    import os

    from .ops import RES_FLAG
    from .spec import ReservationSpec, load_specs

    # RES_FLAG: the flags that say what a reservation is (the rest say how book behaves).
    given = [flag for key, flag in RES_FLAG.items() if getattr(args, key) not in (None, False)]
    if given:
        raise _usage(f"{args.name}: the file sets the reservation's resources and host; leave out {', '.join(given)} "
                     "(or book by NAME with flags)")
    if os.path.isdir(args.name):
        raise _usage(f"{args.name}: is a folder; give one Reservation YAML file")
    (spec,) = load_specs([args.name], cached=True)
    if not isinstance(spec, ReservationSpec):
        raise _usage(f"{spec.source}: is an Agent; start it with `sac agent start {args.name}`")
    return spec


def _reservation_flags(args):
    from pathlib import Path

    from . import ops

    _name(args.name)
    if not args.host:
        raise _usage("--host is required when booking by NAME (or give a Reservation YAML file)")
    hold = None
    if args.hold_body:
        try:
            hold = Path(args.hold_body).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise _usage(f"--hold-body: cannot read {args.hold_body}: {getattr(e, 'strerror', None) or e}")
    fields = {key: getattr(args, key) for key in ops.RES_FLAG}
    fields.update(persistent=args.persistent or None, hold_body=hold)
    return ops.reservation_spec(args.name, fields)


def cmd_res_book(args) -> int:
    from . import ops
    from .discovery import looks_like_path

    spec = _reservation_file(args) if looks_like_path(args.name) else _reservation_flags(args)
    wait = 0 if args.no_wait else args.wait_timeout
    if wait:
        print(f"booking {spec.name} on {spec.host}; waiting up to {wait} s for its job to run...", file=sys.stderr)
    import signal

    def interrupted(signum, frame):
        raise KeyboardInterrupt
    # A closed terminal (SIGHUP) or a kill (SIGTERM) while it waits is an
    # interruption too: the job may be queued, and must be remembered.
    before = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        o = ops.book(spec, wait)
    except KeyboardInterrupt:
        _err(f"{spec.name}: interrupted; its job may be queued on {spec.host}: sac reservations get {spec.name} "
             f"shows it, sac reservations release {spec.name} cancels it")
        raise
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if args.json:
        _print_json({"name": spec.name, "host": spec.host, "ok": o.ok, **o.result,
                     "tmux_server": spec.tmux_server, "persistent": spec.persistent, "error": o.error or None})
    elif o.ok:
        r = o.result
        where = f" on {r['node']}" if r.get("node") else ""
        print(f"{spec.name}: booked, job {r.get('job_id')} {r.get('state')}{where} ({spec.host})")
        if r.get("state") != "RUNNING" and wait:
            print(f"{spec.name}: not running after {wait} s; check later with: sac reservations get {spec.name}")
        if not spec.tmux_server:
            print(f"{spec.name}: booked without --tmux-server: tenants cannot run in it")
    else:
        _err(f"{spec.name}: {o.error}")
    return ops.exit_status([o])


def cmd_res_get(args, refresh: bool = False) -> int:
    from . import ops

    (o,) = ops.reservation_status([_name(args.name)], host=getattr(args, "host", None))
    r = o.result
    if args.json:
        _print_json(r)
    elif refresh and o.ok:
        old, new = r.get("previous_job_id"), r.get("job_id")
        moved = f"job {old} -> {new}" if old and old != new else f"job {new or '-'}"
        print(f"{args.name}: {moved} {r.get('state')}" + (f" on {r['node']}" if r.get("node") else ""))
    elif o.ok or r.get("state") == "UNKNOWN":
        print(_res_line(r))
    if not o.ok:
        _err(f"{args.name}: {o.error or r.get('error')}")
    if o.unreachable:
        return 3
    return 0 if o.ok else 1


def cmd_res_list(args) -> int:
    from . import ops
    from .registry import Registry

    names = sorted(Registry().read()["reservations"])
    outcomes = ops.reservation_status(names) if names else []
    if args.json:
        _print_json([o.result for o in outcomes])
    elif not outcomes:
        print("no reservations booked from here (sac reservations book NAME --host HOST ...)")
    else:
        for o in outcomes:
            print(_res_line(o.result))
    _err_failed(outcomes, "could not ask: ")
    return ops.exit_status(outcomes)


def cmd_res_release(args) -> int:
    from . import ops

    o = ops.release(_name(args.name))
    if args.json:
        _print_json({"name": args.name, "host": o.host, "ok": o.ok, "cancelled": o.result.get("cancelled") or [],
                     "tenants_removed": o.result.get("tenants_removed") or [], "error": o.error or None})
    if not o.ok:
        _err(f"{args.name}: {o.error}")
        return ops.exit_status([o])
    if not args.json:
        ids = o.result.get("cancelled") or []
        what = f"cancelled job(s) {', '.join(ids)}" if ids else "no job was queued or running"
        print(f"{args.name}: released ({what})")
    return 0


def _name(name: str) -> str:
    """A reservation's NAME on the command line, refused (exit 2) unless it is one."""
    from .spec import is_name

    if not is_name(name):
        raise _usage(f"{name!r} is not a reservation name: lowercase letters, digits and -, starting with a letter, "
                     "at most 48 characters")
    return name


def _usage(msg: str):
    from .errors import UsageError

    return UsageError(msg)


def dispatch(args) -> int:
    if args.group == "agent":
        return {"start": cmd_agent_start, "status": cmd_agent_status, "attach": cmd_agent_attach,
                "logs": cmd_agent_logs, "stop": cmd_agent_stop, "migrate": cmd_agent_migrate}[args.verb](args)
    if args.group == "list":
        return cmd_list(args)
    if args.group == "run":
        return cmd_run(args)
    if args.group == "connect":
        return cmd_connect(args)
    if args.group == "reservations":
        if args.verb == "refresh":
            return cmd_res_get(args, refresh=True)
        return {"book": cmd_res_book, "get": cmd_res_get, "list": cmd_res_list,
                "release": cmd_res_release}[args.verb](args)
    raise AssertionError(args.group)


def _main(p: argparse.ArgumentParser, argv: list[str]) -> int:
    return _run(p.parse_args(argv))


def _run(args) -> int:
    from .errors import SacError

    try:
        return dispatch(args)
    except SacError as e:
        print(e.render("sac"), file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"] and "--" in argv:
        # `sac run SCRIPT --host H -- ARG...`: everything after `--` is the
        # script's, wherever the options were (argparse would have taken the
        # positionals already, and refused the rest). With no SCRIPT before
        # `--` (`sac run --host H -- SCRIPT ARG...`), the first word after it is.
        cut = argv.index("--")
        before, after = argv[:cut], argv[cut + 1:]
        words_before = [w for i, w in enumerate(before[1:], 1)
                        if not w.startswith("-") and before[i - 1] != "--host"]
        if not words_before and after:
            before, after = [*before, "--", after[0]], after[1:]
        args = parser(argv).parse_args(before)
        args.args = [*args.args, *after]
        return _run(args)
    return _main(parser(argv), argv)


def hpc_main(argv: list[str] | None = None) -> int:
    return _main(hpc_parser(), sys.argv[1:] if argv is None else argv)


def leave(status: int) -> None:
    """End the process with `status` once stdout and stderr are flushed, without
    the interpreter's teardown (freeing every loaded module costs ~4 ms of each
    `sac` call, and nothing needs it: every file sacgen writes is closed, and
    synced where it matters, before its command returns). Only for the console
    entry points: a caller of main() keeps its interpreter."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # `sac list | head`
            status = status or 1
        except (OSError, ValueError):
            status = status or 1
    os._exit(status)


def console() -> None:
    """The `sac` command."""
    leave(main())


def hpc_console() -> None:
    """The `scitex-hpc` command."""
    leave(hpc_main())


if __name__ == "__main__":
    console()

"""`sac agent send`, `sac agent wait` and `sac list --watch`: talk to agents and
see which of them need you."""

from __future__ import annotations

import sys
import time

from ..errors import UsageError
from ..run import agents
from ..run.registry import Registry
from ..run.steps import exit_status
from . import output


def _read_text(args) -> str:
    """TEXT from the command line, or standard input for `-` (one final newline
    dropped, as $(...) would); refused (exit 2) when it cannot be typed."""
    if args.all:
        if args.text is not None:
            raise UsageError("with --all, give only TEXT (sac agent send --all TEXT)")
        text = args.name
    else:
        if args.name is None:
            raise UsageError("name an agent (sac agent send NAME TEXT), or use --all")
        text = args.text
    if text == "-":
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("standard input is not valid UTF-8 text") from None
        text = text[:-1] if text.endswith("\n") else text
    elif text is not None:
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("TEXT is not valid UTF-8") from None
    if not text and not args.key:
        raise UsageError("nothing to send: give TEXT (or - for standard input), or --key KEY")
    problem = agents.send_text_problem(text or "")
    if problem:
        raise UsageError(problem)
    return text or ""


def cmd_agent_send(args) -> int:
    text = _read_text(args)
    if args.all:
        names = sorted(Registry().read()["agents"])
        if not names:
            if args.json:
                output.print_json([])
            else:
                print("no agents running that were started from here; nothing sent")
            return 0
    else:
        names = [args.name]
    outcomes = agents.send(names, text, enter=not args.no_enter, keys=args.key)
    # --all means the agents that run: one found not running is said, not a failure.
    counted = [o for o in outcomes if not (args.all and o.result.get("not_running"))]
    if args.json:
        output.print_json([{"name": o.name, "host": o.host, "ok": o.ok,
                            **{k: v for k, v in o.result.items() if k != "sent_epoch"}, "error": o.error or None}
                           for o in outcomes])
        output.err_failed(counted)
        return exit_status(counted)
    for o in outcomes:
        if o.ok:
            print(f"{o.name}: sent (job {o.result.get('job_id')} on {o.result.get('node')})")
        elif args.all and o.result.get("not_running"):
            print(f"{o.name}: {o.error} (skipped)")
        else:
            output.err(f"{o.name}: {o.error}")
    return exit_status(counted)


def cmd_agent_wait(args) -> int:
    def report(outcomes) -> None:
        for o in outcomes:
            if not o.ok:
                output.err(f"{o.name}: could not ask ({time.strftime('%H:%M:%S')}): {o.error}; asking again")

    names = list(dict.fromkeys(args.names))
    timeout = None if args.timeout is None else float(args.timeout)
    status, last = agents.wait(names, args.until, timeout, float(args.interval), report)
    if args.json:
        output.print_json([output.status_fields(r) for r in last.values()])
    for name in names:
        r = last.get(name, {})
        if r.get("_ended"):
            output.err(f"{name}: ended (no job or session left) before it was {args.until}")
        elif status and not agents.reached(r, args.until):
            now = output.activity_words(r)
            output.err(f"{name}: not {args.until} after {args.timeout} s ({now})")
        elif not args.json:
            print(f"{name}: {args.until}")
    return status


def _rows(results: list[dict], stale: set[str], now: float) -> list[list[str]]:
    rows = [output.LIST_HEADER]
    for r in results:
        row = output.list_row(r, now)
        if r.get("host") in stale:
            row[0] += "*"
        rows.append(row)
    return rows


def watch(seconds: int) -> int:
    """The table of `sac list`, redrawn every SECONDS over one kept-open
    connection per host, until Ctrl-C. A host that could not be asked keeps its
    last known rows, marked *, with a line that says so."""
    known: dict[str, dict] = {}
    failed: dict[str, tuple[str, str]] = {}  # host -> (when, why)
    tty = sys.stdout.isatty()
    try:
        with agents.Sessions() as sessions:
            while True:
                names = sorted(Registry().read()["agents"])
                outcomes = agents.status(names, runner=sessions.run) if names else []
                stamp = time.strftime("%H:%M:%S")
                # A host whose agents could not be asked at all (ssh, or squeue, failed).
                hosts_failed = {o.host or "?" for o in outcomes
                                if o.unreachable or (not o.ok and o.result.get("state") == "UNKNOWN")}
                for o in outcomes:
                    if (o.host or "?") in hosts_failed and o.name in known:
                        continue  # the last known row stays
                    known[o.name] = dict(o.result, name=o.name, host=o.host)
                for host in hosts_failed:
                    why = next((o.error for o in outcomes if o.host == host and o.error), "no answer")
                    failed[host] = (stamp, why)
                for host in list(failed):
                    if host not in hosts_failed:
                        del failed[host]
                for name in list(known):
                    if name not in names:
                        del known[name]
                lines = [f"sac list, every {seconds} s (Ctrl-C to stop)    {stamp}", ""]
                if known:
                    lines.append(output.table(_rows([known[n] for n in names if n in known], set(failed),
                                                    time.time())))
                else:
                    lines.append("no agents running that were started from here (sac agent start PATH)")
                for host, (when, why) in sorted(failed.items()):
                    lines.append(f"* {host}: could not ask at {when}: {why}; its rows are as last seen")
                text = "\n".join(lines) + "\n"
                sys.stdout.write(("\x1b[H\x1b[2J" if tty else "\n") + text)
                sys.stdout.flush()
                time.sleep(seconds)
    except KeyboardInterrupt:
        return 0

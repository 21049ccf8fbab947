"""What `sac` prints: one-line errors on stderr, JSON, tables and the human
descriptions of a status or a reservation."""

from __future__ import annotations

import json
import sys


def err(msg: str) -> None:
    print(f"sac: {msg}", file=sys.stderr)


def err_failed(outcomes: list, lead: str = "") -> None:
    """One stderr line per outcome that did not succeed, naming what it was about."""
    for o in outcomes:
        if not o.ok:
            err(f"{o.name}: {lead}{o.error or o.result.get('error')}")


def print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def status_fields(r: dict) -> dict:
    keys = ("name", "runtime", "host", "job_id", "state", "node", "session_alive", "reservation")
    out = {k: r.get(k) for k in keys}
    out.update({k: v for k, v in r.items() if k not in out and k != "text_b64"})
    if out.get("reason") == "None":  # squeue's word for a job waiting on nothing
        out["reason"] = None
    return out


def describe_status(r: dict) -> str:
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
    if r.get("session_id"):
        lines.append(f"  conversation: {r['session_id']}")
    if r.get("restarts"):
        lines.append(f"  restarts: {r['restarts']} in this job")
    if r.get("gave_up"):
        n, _, last = str(r["gave_up"]).partition(" ")
        lines.append(f"  gave up after {n} restarts (last exit status {last})")
    if r.get("session_note"):
        lines.append(f"  note: {str(r['session_note']).partition(' ')[2]}")
    if len(r.get("jobs") or []) > 1:
        lines.append("  chain: " + ", ".join(f"{j['job_id']} {j['state']}" for j in r["jobs"]))
    if r.get("error"):
        lines.append(f"  note: {r['error']}")
    return "\n".join(lines)


def table(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def res_line(r: dict) -> str:
    if r.get("state") == "UNKNOWN":
        return f"{r['name']}: UNKNOWN — could not ask: {r.get('error')}"
    where = f" on {r['node']}" if r.get("node") else ""
    extra = f", tmux server {r['tmux_server']}" if r.get("tmux_server") else ", no tmux server"
    extra += ", persistent" if r.get("persistent") else ""
    tenants = r.get("sessions") or []
    extra += f", running tenants: {', '.join(tenants)}" if tenants else ""
    failed = f"; it ended before it served, {r['failed']}" if r.get("failed") else ""
    return f"{r['name']}: job {r.get('job_id') or '-'} {r.get('state')}{where} ({r.get('host')}{extra}){failed}"

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


class BookProgress:
    """What `book` shows while it waits, on stderr, from the progress lines of its
    script: on a terminal one line, redrawn in place (the job, its state and
    pending reason, the seconds waited), which goes once the wait is over; else a
    line whenever the job, state or reason change. Called with each progress
    object, and with None for each other line of output (one a second while it
    waits), so the seconds count without a timer."""

    def __init__(self, name: str, stream=None, tty: bool | None = None, clock=None):
        import time

        self.name = name
        self.stream = sys.stderr if stream is None else stream
        self.tty = self._isatty() if tty is None else tty
        self.clock = time.monotonic if clock is None else clock
        self.started = self.clock()
        self.job = self.state = self.reason = None
        self.shown = ""  # the text on the line drawn in place ("": none)
        self.said = None  # (job, state, reason) last said, off a terminal

    def _isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def __call__(self, event: dict | None) -> None:
        if event is not None:
            self.job = event.get("job_id") or self.job
            if "state" in event:
                self.state = event.get("state")
                reason = event.get("reason")
                self.reason = None if reason in (None, "", "None") else reason
        if self.job is None:
            return
        if self.tty:
            self._draw(self.text(with_time=True))
        elif (self.job, self.state, self.reason) != self.said:
            self.said = (self.job, self.state, self.reason)
            self._write(self.text(with_time=False) + "\n")

    def text(self, with_time: bool) -> str:
        waited = int(self.clock() - self.started)
        line = f"{self.name}: job {self.job}"
        if self.state is None:
            line += " submitted"
        else:
            line += f" {self.state}"
            if self.reason:
                line += f" ({self.reason})"
        if with_time:
            return line + f", waiting {waited} s"
        return line if self.state is None else line + f" after {waited} s"

    def _draw(self, text: str) -> None:
        if text != self.shown:
            self._write("\r\033[K" + text)
            self.shown = text

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def end_line(self) -> None:
        """End the line drawn in place, keeping it (before other lines come)."""
        if self.shown:
            self._write("\n")
            self.shown = ""

    def clear(self) -> None:
        """Take the line drawn in place away (the wait is over, a result follows)."""
        if self.shown:
            self._write("\r\033[K")
            self.shown = ""

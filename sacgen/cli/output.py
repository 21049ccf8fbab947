"""What `sac` prints: one-line errors on stderr, JSON, tables and the human
descriptions of a status or a reservation."""

from __future__ import annotations

import json
import sys
import time


def err(msg: str) -> None:
    print(f"sac: {msg}", file=sys.stderr)


def err_failed(outcomes: list, lead: str = "") -> None:
    """One stderr line per outcome that did not succeed, naming what it was about."""
    for o in outcomes:
        if not o.ok:
            err(f"{o.name}: {lead}{o.error or o.result.get('error')}")


def print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


# What a result carries for sac itself, not for the user (raw epochs: the ISO
# times are printed; _*: what `wait` noted).
_INTERNAL = ("text_b64", "activity_epoch", "sent_epoch")


def status_fields(r: dict) -> dict:
    keys = ("name", "runtime", "host", "job_id", "state", "node", "session_alive", "reservation", "activity",
            "activity_since")
    out = {k: r.get(k) for k in keys}
    out.update({k: v for k, v in r.items() if k not in out and k not in _INTERNAL and not k.startswith("_")})
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
    if alive:
        lines.append(f"  activity: {activity_words(r)}")
    if r.get("sent_at"):
        lines.append(f"  last sent: {r['sent_at']}")
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


LIST_HEADER = ["NAME", "RUNTIME", "HOST", "JOB", "STATE", "NODE", "SESSION", "ACTIVITY", "SINCE", "RESERVATION"]


def age(seconds: float) -> str:
    """A duration, short: 42s, 5m, 3h, 2d (never negative: clocks differ)."""
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def list_row(r: dict, now: float) -> list[str]:
    """One row of `sac list` (LIST_HEADER) for status result R, at time NOW."""
    alive = {True: "alive", False: "dead", None: "?"}[r.get("session_alive")]
    since = r.get("activity_epoch")
    return [r.get("name") or "?", r.get("runtime") or "?", r.get("host") or "?", r.get("job_id") or "-",
            r.get("state") or "?", r.get("node") or "-", alive, r.get("activity") or "-",
            age(now - since) if r.get("activity") and isinstance(since, int) else "-", r.get("reservation") or "-"]


def activity_words(r: dict, now: float | None = None) -> str:
    """What the agent is doing, in words: `idle for 5m (since 2025-05-01T12:00:00Z)`,
    or why that is not known."""
    act, since = r.get("activity"), r.get("activity_epoch")
    if act and isinstance(since, int):
        return f"{act} for {age((time.time() if now is None else now) - since)} (since {r.get('activity_since')})"
    if r.get("state") == "UNKNOWN":
        return "not known: could not ask"
    if r.get("session_alive") is not True:
        return "not known: no live session"
    return "not known: its hooks have written no activity"


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

"""book reports while it waits: its script's progress lines are read as they come
over the one connection, and shown on stderr (in place on a terminal, a line per
change elsewhere); --json output is as it was."""

import contextlib
import io
import json
import os

import pytest

from sacgen.cli.output import BookProgress
from sacgen.run.remote import Step, run_batch

# A $SAC_SSH that runs the program here, as the login node would.
FAKE_SSH = r"""#!/bin/bash
cmd=${@: -1}
if [[ $cmd == "bash -l -s" ]]; then prog=$(cat); else prog=$(bash -c "${cmd% | bash -l -s}"); fi
exec bash -c "$prog"
"""


def _fake_ssh(tmp_path, monkeypatch):
    fake = tmp_path / "ssh"
    fake.write_text(FAKE_SSH)
    fake.chmod(0o755)
    monkeypatch.setenv("SAC_SSH", str(fake))
    monkeypatch.setenv("SAC_SSH_CONTROL", "0")


@pytest.mark.parametrize("private", [False, True])
def test_progress_lines_arrive_while_the_program_still_runs(private, tmp_path, monkeypatch):
    """The program says its progress, then waits for a file that only the
    progress callback makes: were the output read only at the end, it would
    wait until its deadline and fail."""
    _fake_ssh(tmp_path, monkeypatch)
    flag = tmp_path / "seen"
    script = f"""printf '@sac-progress {{"job_id":"7"}}\\n'
for ((i = 0; i < 200; i++)); do [[ -e {flag} ]] && break; sleep 0.05; done
[[ -e {flag} ]] || {{ printf '\\n@sac-result {{"ok":false,"error":"not seen"}}\\n'; exit 1; }}
printf 'noise\\n@sac-progress {{"job_id":"7","state":"PENDING","reason":"Resources"}}\\n'
printf '@sac-progress not json\\n'
printf '\\n@sac-result {{"ok":true}}\\n'
"""
    events = []

    def progress(event):
        events.append(event)
        if event is not None:
            flag.touch()
    batch = run_batch("h", [Step(script, (), "x", private=private)], timeout=60, progress=progress)
    assert batch.steps[0].status == 0 and batch.steps[0].result == {"ok": True}
    shown = [e for e in events if e is not None]
    assert shown == [{"job_id": "7"}, {"job_id": "7", "state": "PENDING", "reason": "Resources"}]
    assert None in events  # the other lines count too (the seconds shown tick with them)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_on_a_terminal_one_line_is_redrawn_in_place_and_taken_away_at_the_end():
    out, clock = io.StringIO(), Clock()
    p = BookProgress("pool", stream=out, tty=True, clock=clock)
    p(None)  # nothing known yet: nothing drawn
    assert out.getvalue() == ""
    p({"job_id": "42"})
    clock.now += 1.2
    p(None)
    clock.now += 0.3
    p(None)  # the same second: not drawn again
    clock.now += 4
    p({"job_id": "42", "state": "PENDING", "reason": "None"})
    clock.now += 1
    p({"job_id": "42", "state": "PENDING", "reason": "Resources"})
    p.clear()
    assert out.getvalue().split("\r\033[K") == [
        "", "pool: job 42 submitted, waiting 0 s", "pool: job 42 submitted, waiting 1 s",
        "pool: job 42 PENDING, waiting 5 s", "pool: job 42 PENDING (Resources), waiting 6 s", ""]
    assert "\n" not in out.getvalue()


def test_on_a_terminal_an_interruption_keeps_the_last_line():
    out = io.StringIO()
    p = BookProgress("pool", stream=out, tty=True, clock=Clock())
    p({"job_id": "42", "state": "PENDING", "reason": "Priority"})
    p.end_line()
    p.end_line()  # once
    assert out.getvalue() == "\r\033[Kpool: job 42 PENDING (Priority), waiting 0 s\n"


def test_off_a_terminal_a_line_per_change():
    out, clock = io.StringIO(), Clock()
    p = BookProgress("pool", stream=out, tty=False, clock=clock)
    p({"job_id": "42"})
    for _ in range(3):
        clock.now += 1
        p(None)
    p({"job_id": "42", "state": "PENDING", "reason": "Resources"})
    clock.now += 5
    p({"job_id": "42", "state": "PENDING", "reason": "Resources"})
    p({"job_id": "42", "state": "PENDING", "reason": "Dependency"})
    p.clear()
    p.end_line()
    assert out.getvalue() == ("pool: job 42 submitted\npool: job 42 PENDING (Resources) after 3 s\n"
                              "pool: job 42 PENDING (Dependency) after 8 s\n")


def _sac(argv, stderr):
    from sacgen.cli.sac import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(stderr):
        code = main(argv)
    return code, out.getvalue()


@pytest.mark.parametrize("json_out", [False, True])
def test_book_warns_before_it_waits_and_shows_its_progress_on_stderr(json_out, tmp_path, monkeypatch):
    from sacgen.run import steps

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    err = io.StringIO()
    seen_before = []

    def fake(items, progress=None):
        seen_before.append(err.getvalue())
        progress({"job_id": "42"})
        progress({"job_id": "42", "state": "PENDING", "reason": "Resources"})
        (item,) = items
        return [steps.Outcome(item.name, item.host, True, {"ok": True, "name": "pool", "job_id": "42",
                                                           "state": "RUNNING", "node": "n1"})]
    monkeypatch.setattr(steps, "run_grouped", fake)
    code, out = _sac(["reservations", "book", "pool", "--host", "h", *(["--json"] if json_out else [])], err)
    assert code == 0
    assert seen_before == ["sac: pool: booking without --tmux-server: tenants cannot run in it\n"
                           "booking pool on h; waiting up to 300 s for its job to run...\n"]
    assert err.getvalue().endswith("pool: job 42 submitted\npool: job 42 PENDING (Resources) after 0 s\n")
    if json_out:
        assert json.loads(out) == {"name": "pool", "host": "h", "ok": True, "job_id": "42", "state": "RUNNING",
                                   "node": "n1", "tmux_server": None, "persistent": False, "error": None}
    else:
        assert out == "pool: booked, job 42 RUNNING on n1 (h)\n"


def test_book_with_a_tmux_server_says_no_warning(tmp_path, monkeypatch):
    from sacgen.run import steps

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.setattr(steps, "run_grouped", lambda items, progress=None: [
        steps.Outcome(i.name, i.host, True, {"ok": True, "job_id": "42", "state": "RUNNING"}) for i in items])
    err = io.StringIO()
    assert _sac(["reservations", "book", "pool", "--host", "h", "--tmux-server", "sac"], err)[0] == 0
    assert "tmux-server" not in err.getvalue()
    assert os.path.exists(tmp_path / "state.json")

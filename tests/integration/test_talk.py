"""Talking to agents on the real cluster: sac agent send, the activity columns
of list and status, sac agent wait and sac list --watch, through the sshd login
node, with the stub Claude Code (tests/integration/assets/claude: it asks for
bracketed paste, reads the terminal raw and keeps each message it takes).

Until the agents' hooks write `activity` themselves, the tests write that file
as the hooks will (`STATE EPOCH`, replaced by rename)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time

import pytest

from .sacutil import ASSETS, Sac, pane_has, unique

HOSTILE = ("it's \"quoted\" $(touch PWNED) `id` back\\slash\n-- second line\ttab\n  unicode ✓ é ☃\n"
           "$HOME ~ ;|&<> * -x")


@pytest.fixture
def sac(cluster, sac_env, tmp_path):
    s = Sac(cluster, sac_env, tmp_path)
    yield s
    s.cleanup()


def _own(cluster, path) -> None:
    pw = pwd.getpwnam(cluster.user)
    os.chown(path, pw.pw_uid, pw.pw_gid)


@pytest.fixture(scope="module")
def claude(cluster):
    """The stub Claude Code in the login user's home; its `~/...` path."""
    target = cluster.home / "bin" / "claude"
    target.parent.mkdir(exist_ok=True)
    shutil.copy(ASSETS / "claude", target)
    target.chmod(0o755)
    _own(cluster, target.parent)
    _own(cluster, target)
    return "~/bin/claude"


def start_agent(cluster, sac, claude, name):
    config = cluster.home / "claude-config" / name
    spec = {"runtime": "slurm", "model": "opus", "workdir": f"~/talk/{name}",
            "env": {"CLAUDE_CONFIG_DIR": str(config), "STUB_CLAUDE_LOG": str(cluster.home / f"{name}.claude.log")},
            "claude": {"command": claude, "flags": ["--dangerously-skip-permissions"]},
            "slurm": {"host": cluster.host, "time_limit": "30", "resubmit_before": 60}}
    r = sac("agent", "start", sac.agent_yaml(name, spec))
    assert r.returncode == 0, r.stderr
    cluster.wait_for(lambda: pane_has(sac, name, "stub claude"), 60, f"the stub Claude Code of {name} in its pane")
    return config


def messages(config) -> list[str]:
    out = []
    for path in sorted(config.glob("stub-projects/*/*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec["type"] == "user":
                out.append(rec["text"])
    return out


def agent_dir(cluster, name):
    return cluster.home / ".scitex" / "agent-container" / "agents" / name


def set_activity(cluster, name, state, epoch) -> None:
    """What the hooks do: `STATE EPOCH`, written whole and renamed into place."""
    folder = agent_dir(cluster, name)
    tmp = folder / ".activity.test"
    tmp.write_text(f"{state} {epoch}\n")
    _own(cluster, tmp)
    os.rename(tmp, folder / "activity")


def sent_epoch(cluster, name) -> int:
    return int((agent_dir(cluster, name) / "sent").read_text())


def list_row(sac, name) -> list[str]:
    r = sac("list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = lines[0].split()
    assert header[7:9] == ["ACTIVITY", "SINCE"], lines[0]
    (row,) = [ln.split() for ln in lines[1:] if ln.split()[0] == name]
    return row


def test_send_activity_wait(cluster, sac, claude):
    name = unique("talk")
    config = start_agent(cluster, sac, claude, name)

    # Nothing written by hooks yet: not known, in the table and in JSON.
    row = list_row(sac, name)
    assert row[7:9] == ["-", "-"]
    st = sac.status(name)
    assert st["activity"] is None and st["activity_since"] is None

    # A hostile text of several lines: one message, byte for byte; one connection.
    before = sac.ssh_calls()
    r = sac("agent", "send", name, HOSTILE)
    assert r.returncode == 0, r.stderr
    assert sac.ssh_calls() - before == 1
    cluster.wait_for(lambda: messages(config), 20, "the message to reach the stub")
    assert messages(config) == [HOSTILE]
    assert not (cluster.home / "talk" / name / "PWNED").exists()
    sent = sent_epoch(cluster, name)
    assert abs(sent - time.time()) < 60
    # Standard input, one final newline dropped; a leading dash after --.
    r = sac("agent", "send", name, "-", input="from stdin\nline two\n")
    assert r.returncode == 0, r.stderr
    r = sac("agent", "send", name, "--", "-leading dash")
    assert r.returncode == 0, r.stderr
    cluster.wait_for(lambda: len(messages(config)) == 3, 20, "two more messages")
    assert messages(config)[1:] == ["from stdin\nline two", "-leading dash"]
    # --no-enter types without submitting; --key Enter submits.
    r = sac("agent", "send", name, "--no-enter", "typed only")
    assert r.returncode == 0, r.stderr
    cluster.wait_for(lambda: pane_has(sac, name, "typed only"), 20, "the typed text in the pane")
    assert len(messages(config)) == 3
    r = sac("agent", "send", name, "--key", "Enter")
    assert r.returncode == 0, r.stderr
    cluster.wait_for(lambda: len(messages(config)) == 4, 20, "the Enter key submitting it")
    assert messages(config)[3] == "typed only"
    # Refused before anything runs: control characters, unknown keys.
    before = sac.ssh_calls()
    for bad in (["bell\x07"], ["carriage\rreturn"], ["x", "--key", "Hyper"]):
        r = sac("agent", "send", name, *bad)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
    assert sac.ssh_calls() == before

    # The activity, as the hooks will write it, after each step; list has no
    # more connections than one.
    sent = sent_epoch(cluster, name)
    set_activity(cluster, name, "working", sent)
    before = sac.ssh_calls()
    row = list_row(sac, name)
    assert sac.ssh_calls() - before == 1
    assert row[7] == "working" and row[8].endswith(("s", "m"))
    set_activity(cluster, name, "waiting", sent + 1)
    st = sac.status(name)
    assert st["activity"] == "waiting"
    assert st["activity_since"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent + 1))
    assert st["sent_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent))
    r = sac("agent", "status", name)
    assert "activity: waiting for" in r.stdout

    # wait: an idle from before the last send does not count; it times out honestly.
    set_activity(cluster, name, "idle", sent - 5)
    t0 = time.monotonic()
    r = sac("agent", "wait", name, "--until", "idle", "--timeout", "3", "--interval", "1")
    took = time.monotonic() - t0
    assert r.returncode == 1 and "not idle after 3 s" in r.stderr, (r.stdout, r.stderr)
    assert 3 <= took < 20
    # ... and returns once the answer comes: several rounds, one connection.
    set_activity(cluster, name, "working", sent)
    before = sac.ssh_calls()
    proc = subprocess.Popen([sys.executable, "-c", "from sacgen.cli.sac import console; console()", "agent", "wait",
                             name, "--until", "idle", "--timeout", "120", "--interval", "1"],
                            env=sac.env, cwd=sac.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)  # several rounds of asking, on purpose: it must not return while the agent works
        assert proc.poll() is None, proc.communicate()
        set_activity(cluster, name, "idle", sent + 2)
        t_idle = time.monotonic()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert time.monotonic() - t_idle < 15
    assert f"{name}: idle" in out
    assert sac.ssh_calls() - before == 1, "wait asks over one kept-open connection"
    # waiting, after a send: the state of that same second counts (>=).
    set_activity(cluster, name, "waiting", sent)
    r = sac("agent", "wait", name, "--until", "waiting", "--timeout", "30", "--interval", "1")
    assert r.returncode == 0, r.stderr

    # The stopped agent: send fails and says so; wait --until ended returns; activity not shown.
    r = sac("agent", "stop", name)
    assert r.returncode == 0, r.stderr
    r = sac("agent", "wait", name, "--until", "ended", "--timeout", "60", "--interval", "1")
    assert r.returncode == 0, r.stderr
    r = sac("agent", "send", name, "hello?")
    assert r.returncode == 1 and "not running" in r.stderr
    assert sac.status(name)["activity"] is None
    r = sac("agent", "wait", name, "--until", "idle", "--timeout", "30", "--interval", "1")
    assert r.returncode == 1 and "ended" in r.stderr


def test_key_interrupts_and_send_all(cluster, sac, claude):
    a, b = unique("keya"), unique("keyb")
    ca = start_agent(cluster, sac, claude, a)
    cb = start_agent(cluster, sac, claude, b)
    r = sac("agent", "send", a, "/work 300")
    assert r.returncode == 0, r.stderr
    cluster.wait_for(lambda: pane_has(sac, a, "working 300"), 20, "a turn that works")
    r = sac("agent", "send", a, "--key", "Escape")
    assert r.returncode == 0, r.stderr
    cluster.wait_for(lambda: pane_has(sac, a, "Interrupted by user"), 20, "Escape interrupting it")
    before = sac.ssh_calls()
    r = sac("agent", "send", "--all", "to everyone\nsecond line")
    assert r.returncode == 0, r.stderr
    assert sac.ssh_calls() - before == 1, "one connection per host, however many agents"
    for config in (ca, cb):
        cluster.wait_for(lambda c=config: "to everyone\nsecond line" in messages(c), 20, "the message to both")


def test_list_watch_redraws(cluster, sac, claude, tmp_path):
    name = unique("watch")
    start_agent(cluster, sac, claude, name)
    set_activity(cluster, name, "working", int(time.time()))
    sock = tmp_path / "term.sock"
    envs = []
    for k, v in sac.env.items():
        envs += ["-e", f"{k}={v}"]
    cmd = (f"cd {tmp_path} && {sys.executable} -c 'from sacgen.cli.sac import console; console()' "
           "list --watch 1; echo WATCH-EXITED $?; sleep 30")
    terminal = ["tmux", "-S", str(sock)]
    before = sac.ssh_calls()
    subprocess.run([*terminal, "new-session", "-d", "-x", "160", "-y", "30", *envs, cmd], check=True,
                   env=dict(sac.env, TMUX_TMPDIR=str(tmp_path)))
    try:
        def screen():
            return subprocess.run([*terminal, "capture-pane", "-p"], capture_output=True, text=True).stdout

        def shows(state):
            rows = [ln.split() for ln in screen().splitlines() if ln.split()[:1] == [name]]
            return rows and rows[0][7] == state

        cluster.wait_for(lambda: shows("working"), 30, "the table with the agent working")
        assert "ACTIVITY" in screen() and screen().count("ACTIVITY") == 1, screen()
        set_activity(cluster, name, "waiting", int(time.time()))
        cluster.wait_for(lambda: shows("waiting"), 30, "the table redrawn with the agent waiting")
        assert screen().count("NAME") == 1, "redrawn in place, not appended"
        subprocess.run([*terminal, "send-keys", "C-c"], check=True)
        cluster.wait_for(lambda: "WATCH-EXITED 0" in screen(), 15, "Ctrl-C ending the watch")
    finally:
        subprocess.run([*terminal, "kill-server"], capture_output=True)
    assert sac.ssh_calls() - before == 1, "the watch asks over one kept-open connection"

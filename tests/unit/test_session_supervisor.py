"""session.sh's supervisor, run here in a private tmux with the stub Claude Code
(tests/integration/assets/claude): how it picks --session-id or --resume, its
fallbacks on Claude Code's documented refusals, the restart policy, and the
lease. The real-cluster side is tests/integration/test_resume.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sacgen.compile.render import render_session
from sacgen.compile.specs import read_spec

from .conftest import ROOT

STUB = ROOT / "tests" / "integration" / "assets" / "claude"
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Session:
    def __init__(self, tmp: Path, restart: str = "{policy: on-failure, max_restarts: 2, delay: 1}"):
        self.tmp = tmp
        self.home = tmp / "home"
        self.dir = self.home / "agents" / "sup"
        self.dir.mkdir(parents=True)
        (tmp / "bin").mkdir()
        shutil.copy(STUB, tmp / "bin" / "claude")
        spec_file = tmp / "sup.yaml"
        spec_file.write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  runtime: slurm\n"
                             f"  model: opus\n  workdir: {tmp / 'work'}\n  restart: {restart}\n"
                             "  slurm: {host: localhost}\n")
        spec, problems = read_spec(spec_file)
        assert spec is not None, problems
        (self.dir / "session.sh").write_text(render_session(spec))
        (self.dir / "lease").write_text("1 job.0@here\n")
        self.env = dict(os.environ, PATH=f"{tmp / 'bin'}:{os.environ['PATH']}", SAC_REMOTE_HOME=str(self.home),
                        STUB_CLAUDE_LOG=str(tmp / "stub.log"), CLAUDE_CONFIG_DIR=str(tmp / "config"),
                        TMUX_TMPDIR=str(tmp), SAC_LEASE_CHECK="1")
        self.env.pop("TMUX", None)
        self.fifo = tmp / "hold" / "fifo"
        self.fifo.parent.mkdir()
        os.mkfifo(self.fifo)

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", "sup", *args], env=self.env, capture_output=True, text=True)

    def start(self) -> None:
        self.reader = subprocess.Popen(["cat", str(self.fifo)], stdout=subprocess.DEVNULL)
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "s", "-x", "150", "-y", "50",
                  f"bash {self.dir / 'session.sh'} {self.fifo} '1 job.0@here'; echo SESSION-ENDED $?; sleep 60")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "s", "-l", text)
        self.tmux("send-keys", "-t", "s", "Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "s").stdout

    def log(self) -> list[dict]:
        try:
            return [json.loads(x) for x in (self.tmp / "stub.log").read_text().splitlines() if x]
        except FileNotFoundError:
            return []

    def starts(self) -> list[dict]:
        return [r for r in self.log() if r["event"] == "start"]

    def wait(self, what, timeout: float = 20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = what()
            if got:
                return got
            time.sleep(0.1)
        raise AssertionError(f"timed out; the pane shows:\n{self.screen()}")

    def close(self) -> None:
        self.tmux("kill-server")
        self.reader.kill()


@pytest.fixture
def session(tmp_path):
    s = Session(tmp_path)
    yield s
    s.close()


def conversation(s: Session, sid: str) -> Path:
    return s.tmp / "config" / "stub-projects" / str(s.tmp / "work").strip("/").replace("/", "-") / f"{sid}.jsonl"


def test_pins_an_id_then_resumes_it_after_a_crash_and_gives_up_after_max_restarts(session):
    session.start()
    (first,) = session.wait(session.starts)
    sid = first["session_id"]
    assert first["argv"][2:4] == ["--session-id", sid]
    assert (session.dir / "session-id").read_text().strip() == sid
    session.type("hello")
    session.wait(lambda: (session.dir / f"saved.{sid}").exists())
    assert (session.dir / "activity").read_text().split()[0] == "idle"
    session.type("/crash 3")
    second = session.wait(lambda: len(session.starts()) >= 2 and session.starts()[1])
    assert second["argv"][2:4] == ["--resume", sid] and second["messages"] == 2  # "hello" and "/crash 3"
    assert (session.dir / "restarts").read_text().strip() == "1"
    session.type("/crash 3")
    session.wait(lambda: len(session.starts()) >= 3)
    session.type("/crash 5")
    session.wait(lambda: "SESSION-ENDED 5" in session.screen())
    assert (session.dir / "gave-up").read_text().strip() == "2 5"
    assert "gave up after 2 restarts (last exit status 5)" in session.screen()


def test_a_conversation_gone_from_claude_code_is_started_afresh_under_its_id_and_said(session):
    session.start()
    (first,) = session.wait(session.starts)
    sid = first["session_id"]
    session.type("hello")
    session.wait(lambda: (session.dir / f"saved.{sid}").exists())
    # Claude Code removed it (cleanupPeriodDays): --resume is refused with its
    # documented message, and the same id is pinned afresh.
    conversation(session, sid).unlink()
    os.kill(first["pid"], signal.SIGKILL)  # a crash that writes nothing more
    third = session.wait(lambda: len(session.starts()) >= 2 and session.starts()[-1]["argv"][2] == "--session-id"
                         and session.starts()[-1])
    assert third["session_id"] == sid
    note = (session.dir / "session-note").read_text()
    assert f"conversation {sid} was not found" in note


def test_an_id_in_use_but_never_recorded_is_resumed(session):
    """The hooks recorded nothing (e.g. the workspace-trust dialog was never
    accepted) but Claude Code has the conversation: --session-id is refused as
    in use, and the supervisor resumes it."""
    sid = "0b9e1a4c-3f6d-4a3e-9c1d-2f1f0a9b8c7d"
    (session.dir / "session-id").write_text(sid + "\n")
    path = conversation(session, sid)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"type": "user", "text": "old"}) + "\n")
    session.start()
    resumed = session.wait(lambda: [r for r in session.starts() if r["argv"][2:4] == ["--resume", sid]])
    assert resumed[0]["messages"] == 1
    assert "Session ID %s is already in use" % sid in session.screen()


def test_a_newer_lease_ends_the_agent_and_the_session_does_not_start_it_again(session):
    session.start()
    session.wait(session.starts)
    tmp = session.dir / "lease.new"
    tmp.write_text("2 someone-else\n")
    os.rename(tmp, session.dir / "lease")
    session.wait(lambda: "SESSION-ENDED" in session.screen(), 30)
    assert len(session.starts()) == 1
    assert [r for r in session.log() if r["event"] == "exit"]
    assert not (session.dir / "running").exists()


def test_fresh_marker_begins_a_new_conversation_at_the_next_start(session):
    session.start()
    (first,) = session.wait(session.starts)
    (session.dir / "fresh").write_text("")
    session.type("/crash 1")
    second = session.wait(lambda: len(session.starts()) >= 2 and session.starts()[1])
    assert second["session_id"] != first["session_id"] and second["argv"][2] == "--session-id"
    assert not (session.dir / "fresh").exists()
    assert "--fresh" in (session.dir / "session-note").read_text()

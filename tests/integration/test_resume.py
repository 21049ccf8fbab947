"""An agent that continues: its conversation survives restarts, resubmits,
requeues and relaunches; a crash restarts it in place; never two processes.

The agent is tests/integration/assets/claude, a stand-in for Claude Code that
behaves as its documentation says for --session-id, --resume, --settings and
the hooks, and logs its own starts and exits (its own clock)."""

from __future__ import annotations

import json
import os
import pwd
import shutil

import pytest

from .sacutil import ASSETS, Sac, unique


@pytest.fixture
def sac(cluster, sac_env, tmp_path):
    s = Sac(cluster, sac_env, tmp_path)
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def claude(cluster):
    """The stub Claude Code in the login user's home, as ~/bin/claude."""
    target = cluster.home / "bin" / "claude"
    target.parent.mkdir(exist_ok=True)
    shutil.copy(ASSETS / "claude", target)
    target.chmod(0o755)
    shutil.chown(target.parent, cluster.user)
    shutil.chown(target, cluster.user)
    return "~/bin/claude"


def stub_log(cluster, name: str) -> list[dict]:
    path = cluster.home / "stub-claude" / f"{name}.log"
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def starts(cluster, name: str) -> list[dict]:
    return [r for r in stub_log(cluster, name) if r["event"] == "start"]


def spec_of(cluster, program, name, **extra) -> dict:
    spec = {"runtime": "slurm", "model": "opus",
            "env": {"STUB_CLAUDE_LOG": f"{cluster.home}/stub-claude/{name}.log",
                    "CLAUDE_CONFIG_DIR": f"{cluster.home}/claude-config"},
            "claude": {"command": program, "session": "resume", "activity": True},
            "restart": {"delay": 1, "max_restarts": 2},
            "slurm": {"host": cluster.host, "time_limit": "30", "resubmit_before": 60}}
    for k, v in extra.items():
        spec[k] = {**spec[k], **v} if isinstance(spec.get(k), dict) else v
    return spec


def type_into(cluster, name: str, text: str) -> None:
    """Type TEXT and Enter into agent NAME's pane (runtime slurm), as a user at
    its terminal would: tmux on the login node's machine (the test nodes share it)."""
    uid = pwd.getpwnam(cluster.user).pw_uid
    sock = f"{cluster.env['TMUX_TMPDIR']}/tmux-{uid}/sac-{name}"
    cluster.run(["tmux", "-S", sock, "send-keys", "-t", f"=sac-{name}:", "-l", text], check=True)
    cluster.run(["tmux", "-S", sock, "send-keys", "-t", f"=sac-{name}:", "Enter"], check=True)


def agent_dir(cluster, name: str):
    return cluster.home / ".scitex" / "agent-container" / "agents" / name


def alive_pids(cluster, name: str) -> list[int]:
    """Stub processes of agent NAME that are alive (by their start/exit records
    and the process table: PID 1 here does not reap, so a zombie is dead)."""
    started = {r["pid"] for r in stub_log(cluster, name) if r["event"] == "start"}
    ended = {r["pid"] for r in stub_log(cluster, name) if r["event"] == "exit"}
    alive = []
    for pid in started - ended:
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if stat != "Z":
            alive.append(pid)
    return alive


def release_when_gone(cluster, job: str, node: str) -> None:
    """Release requeued JOB from SLURM's two-minute hold once its first run's
    batch step on NODE is done (released earlier, the late end of that step
    would end the job)."""
    cluster.wait_job_state(job, {"PENDING"}, 60)
    log = cluster.logs[f"slurmd {node}"]
    cluster.wait_for(lambda: f"[{job}.batch] done with job" in log.read_text(errors="replace"), 60,
                     f"job {job}'s first run to end on {node}")
    cluster.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=True)


def wait_started(cluster, name: str, count: int, timeout: float = 60) -> list[dict]:
    return cluster.wait_for(lambda: (s := starts(cluster, name)) and len(s) >= count and s, timeout,
                            f"start number {count} of agent {name}")


def test_crash_restarts_in_place_with_the_conversation_then_gives_up(cluster, sac, claude):
    name = unique("crash")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name))
    assert sac("agent", "start", path).returncode == 0
    (first,) = wait_started(cluster, name, 1)
    sid = first["session_id"]
    assert first["argv"][:4] == ["--model", "opus", "--session-id", sid]
    assert "--settings" in first["argv"]
    assert (agent_dir(cluster, name) / "session-id").read_text().strip() == sid
    type_into(cluster, name, "remember the number 42")
    cluster.wait_for(lambda: (agent_dir(cluster, name) / f"saved.{sid}").exists(), 20, "the conversation saved")
    job = sac.status(name)["job_id"]
    type_into(cluster, name, "/crash 3")
    second = wait_started(cluster, name, 2)[1]
    assert second["argv"][2:4] == ["--resume", sid] and second["messages"] >= 1
    assert second["job"] == job  # in place: the same job
    st = sac.status(name)
    assert st["session_id"] == sid and st["restarts"] == 1 and st["state"] == "RUNNING"
    # Two more crashes: max_restarts 2, so the second is the last restart.
    type_into(cluster, name, "/crash 3")
    wait_started(cluster, name, 3)
    type_into(cluster, name, "/crash 4")
    cluster.wait_for(lambda: (agent_dir(cluster, name) / "gave-up").exists(), 30, "the policy to give up")
    st = cluster.wait_for(lambda: (s := sac.status(name)) and s["state"] == "ABSENT" and s, 40, "the job to end")
    assert st["gave_up"] == "2 4" and st["last_exit"] == 4 and len(starts(cluster, name)) == 3
    r = sac("agent", "status", name)
    assert "gave up after 2 restarts (last exit status 4)" in r.stdout, r.stdout


def test_exit_0_ends_the_agent_and_is_not_restarted(cluster, sac, claude):
    name = unique("quit")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name))
    assert sac("agent", "start", path).returncode == 0
    wait_started(cluster, name, 1)
    type_into(cluster, name, "/quit")
    cluster.wait_for(lambda: sac.status(name)["state"] == "ABSENT", 40, "the job to end")
    assert len(starts(cluster, name)) == 1 and sac.status(name)["last_exit"] == 0


def test_a_conversation_never_saved_is_pinned_again_and_fresh_begins_a_new_one(cluster, sac, claude):
    name = unique("pin")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name))
    assert sac("agent", "start", path).returncode == 0
    (first,) = wait_started(cluster, name, 1)
    sid = first["session_id"]
    assert sac("agent", "stop", name).returncode == 0
    cluster.wait_for(lambda: not alive_pids(cluster, name), 30, "the agent to end")
    cluster.wait_for(lambda: sac.status(name)["state"] == "ABSENT", 40, "its job to end")
    assert sac("agent", "start", path).returncode == 0
    second = wait_started(cluster, name, 2)[1]
    # Nothing was said: nothing to resume; the same id is pinned again.
    assert second["argv"][2:4] == ["--session-id", sid]
    type_into(cluster, name, "hello")
    cluster.wait_for(lambda: (agent_dir(cluster, name) / f"saved.{sid}").exists(), 20, "the conversation saved")
    assert sac("agent", "stop", name).returncode == 0
    cluster.wait_for(lambda: not alive_pids(cluster, name), 30, "the agent to end")
    cluster.wait_for(lambda: sac.status(name)["state"] == "ABSENT", 40, "its job to end")
    assert sac("agent", "start", path, "--fresh").returncode == 0
    third = wait_started(cluster, name, 3)[2]
    assert third["argv"][2] == "--session-id" and third["session_id"] != sid
    st = sac.status(name)
    assert st["session_id"] == third["session_id"] and "--fresh" in (st["session_note"] or "")


def test_session_new_runs_the_argv_exactly_as_written(cluster, sac, claude):
    name = unique("new")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name, claude={"session": "new", "activity": False,
                                                                       "flags": ["--x", "y z"]}))
    assert sac("agent", "start", path).returncode == 0
    (first,) = wait_started(cluster, name, 1)
    assert first["argv"] == ["--model", "opus", "--x", "y z"]
    assert sac.status(name)["session_id"] is None


def test_the_successor_after_walltime_resumes_the_pinned_conversation(cluster, sac, claude):
    name = unique("wall")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name))
    assert sac("agent", "start", path).returncode == 0
    (first,) = wait_started(cluster, name, 1)
    sid = first["session_id"]
    type_into(cluster, name, "keep this")
    cluster.wait_for(lambda: (agent_dir(cluster, name) / f"saved.{sid}").exists(), 20, "the conversation saved")
    job = sac.status(name)["job_id"]
    # The walltime signal (at once), then the walltime end of the job.
    cluster.scancel(job, signal="USR1", batch=True)
    cluster.wait_for(lambda: (agent_dir(cluster, name) / f"successor.{job}").exists(), 30, "the successor")
    successor = (agent_dir(cluster, name) / f"successor.{job}").read_text().strip()
    cluster.scancel(job)
    second = wait_started(cluster, name, 2, timeout=90)[1]
    assert second["job"] == successor and second["argv"][2:4] == ["--resume", sid]
    assert second["messages"] >= 1


def test_a_node_set_down_requeues_the_job_and_the_agent_comes_back_resumed(cluster, sac, claude):
    name = unique("down")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name))
    assert sac("agent", "start", path).returncode == 0
    (first,) = wait_started(cluster, name, 1)
    sid = first["session_id"]
    type_into(cluster, name, "before the failure")
    cluster.wait_for(lambda: (agent_dir(cluster, name) / f"saved.{sid}").exists(), 20, "the conversation saved")
    st = sac.status(name)
    job, node = st["job_id"], st["node"]
    cluster.run(["scontrol", "update", f"nodename={node}", "state=down", "reason=resume-test"], check=True)
    # Its slurmd answers at once, and ReturnToService=2 would take the node back:
    # drained, it gets no job while the test runs, as a failed node would not.
    cluster.run(["scontrol", "update", f"nodename={node}", "state=drain", "reason=resume-test"], check=True)
    try:
        release_when_gone(cluster, job, node)
        # Back within the requeue plus the old process's heartbeat going stale
        # (30 s: SIGKILL gave its session no time to say it ended).
        second = wait_started(cluster, name, 2, timeout=120)[1]
    finally:
        cluster.run(["scontrol", "update", f"nodename={node}", "state=resume"])
    assert second["job"] == job and second["node"] != node
    assert second["argv"][2:4] == ["--resume", sid]
    cluster.wait_for(lambda: len(alive_pids(cluster, name)) == 1, 30, "exactly one agent process")


def test_preemption_requeues_the_job_and_the_agent_comes_back_resumed(cluster, sac, claude, jobs):
    name = unique("pre")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name, slurm={"partition": "debug"}))
    assert sac("agent", "start", path).returncode == 0
    (first,) = wait_started(cluster, name, 1)
    sid = first["session_id"]
    type_into(cluster, name, "before the preemption")
    cluster.wait_for(lambda: (agent_dir(cluster, name) / f"saved.{sid}").exists(), 20, "the conversation saved")
    st = sac.status(name)
    job, node = st["job_id"], st["node"]
    # It needs every core of the agent's node: only preemption makes room.
    boss = cluster.sbatch("-p", "high", "-w", node, "-c", "4", "--chdir=/tmp", "--output=/dev/null",
                          script="#!/bin/bash\nsleep 20\n")
    jobs.append(boss)
    cluster.wait_job_state(boss, {"RUNNING"}, 60)
    release_when_gone(cluster, job, node)
    second = wait_started(cluster, name, 2, timeout=120)[1]
    assert second["job"] == job and second["argv"][2:4] == ["--resume", sid]
    cluster.wait_for(lambda: len(alive_pids(cluster, name)) == 1, 30, "exactly one agent process")


def test_the_flags_sac_owns_are_refused_beside_session_resume(cluster, sac, claude):
    name = unique("own")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name, claude={"flags": ["--resume=x"]}))
    r = sac("agent", "start", path)
    assert r.returncode == 2
    assert "spec.claude.flags[0]: '--resume=x': sac owns --resume" in r.stderr, r.stderr


def test_a_stale_lease_holder_is_ended_so_that_one_agent_runs(cluster, sac, claude):
    """A newer generation of the agent takes the lease: the running process is
    ended by its own session within the stated bound, and its session does not
    start it again."""
    name = unique("lease")
    path = sac.agent_yaml(name, spec_of(cluster, claude, name, restart={"policy": "always"}))
    assert sac("agent", "start", path).returncode == 0
    (first,) = wait_started(cluster, name, 1)
    lease = agent_dir(cluster, name) / "lease"
    gen = int(lease.read_text().split()[0])
    tmp = lease.with_name("lease.new")
    tmp.write_text(f"{gen + 1} someone-else\n")
    os.rename(tmp, lease)
    cluster.wait_for(lambda: not alive_pids(cluster, name), 30, "the agent to be ended (bound: 20 s)")
    exits = [r for r in stub_log(cluster, name) if r["event"] == "exit"]
    assert exits and exits[-1]["time"] - first["time"] < 60
    cluster.wait_for(lambda: sac.status(name)["state"] == "ABSENT", 40, "the job to end")
    assert len(starts(cluster, name)) == 1

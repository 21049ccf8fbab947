"""runtime: slurm end to end, through the sshd login node, against real SLURM."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from .sacutil import HOSTILE_FLAGS, Sac, attach_in_a_pty, install_stub_agent, pane_has, record_env, records, unique


@pytest.fixture
def sac(cluster, sac_env, tmp_path):
    s = Sac(cluster, sac_env, tmp_path)
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def stub(cluster):
    return install_stub_agent(cluster)


def hook_file(cluster, name: str, body: str) -> str:
    path = cluster.home / "hooks" / f"{name}.sh"
    path.parent.mkdir(exist_ok=True)
    path.write_text(body)
    os.chown(path.parent, *_ids(cluster))
    os.chown(path, *_ids(cluster))
    return f"~/hooks/{name}.sh"


def _ids(cluster):
    import pwd

    pw = pwd.getpwnam(cluster.user)
    return pw.pw_uid, pw.pw_gid


def agent_spec(cluster, stub, name, **extra):
    spec = {"runtime": "slurm", "model": "opus",
            "env": record_env(cluster, name),
            "claude": {"command": stub, "flags": ["--dangerously-skip-permissions"]},
            "slurm": {"host": cluster.host, "time_limit": "30", "resubmit_before": 60}}
    for k, v in extra.items():
        if k == "slurm":
            spec["slurm"].update(v)
        elif k == "env":
            spec["env"].update(v)
        else:
            spec[k] = v
    return spec


def wait_running(cluster, sac, name, job=None):
    def ok():
        st = sac.status(name)
        return st if st["state"] == "RUNNING" and st["session_alive"] and (job is None or st["job_id"] == job) else None
    return cluster.wait_for(ok, 40, f"agent {name} RUNNING with a live session")


def test_lifecycle_start_status_logs_stop(cluster, sac, stub):
    name = unique("life")
    hook = hook_file(cluster, name, "export HOOK_VAR='from the hook'\nexport OVERRIDE=hook\n")
    env = {"GREETING": "it's \"$(date)\" `id` \\ $PATH\nsecond line", "OVERRIDE": "spec wins", "UNI": "héllo ✓"}
    path = sac.agent_yaml(name, agent_spec(cluster, stub, name, workdir=f"~/work dirs/{name} x", env=env,
                                           claude={"command": stub, "flags": HOSTILE_FLAGS},
                                           slurm={"hooks": {"pre_agent": hook}}))
    before = sac.ssh_calls()
    r = sac("agent", "start", path)
    assert r.returncode == 0, r.stderr
    assert "submitted job" in r.stdout
    assert sac.ssh_calls() - before == 1, "start must open exactly one ssh connection"
    st = wait_running(cluster, sac, name)
    assert st["runtime"] == "slurm" and st["host"] == cluster.host and st["node"] in ("n1", "n2")
    assert st["reservation"] is None
    (rec,) = cluster.wait_for(lambda: records(cluster, name), 20, "the stub agent's record")
    assert rec["argv"] == ["--model", "opus", *HOSTILE_FLAGS]
    for k, v in env.items():
        assert rec["env"][k] == (v if k != "OVERRIDE" else "spec wins")
    assert rec["env"]["HOOK_VAR"] == "from the hook"
    assert rec["cwd"] == f"{cluster.home}/work dirs/{name} x"
    assert not (cluster.home / "work dirs" / f"{name} x" / "PWNED").exists()
    assert st["pane_command"]  # the agent process (comm), e.g. node for claude

    before = sac.ssh_calls()
    assert cluster.wait_for(lambda: pane_has(sac, name, "stub agent ready"), 10, "banner in the pane")
    assert sac.ssh_calls() - before >= 1
    before = sac.ssh_calls()
    r = sac("agent", "logs", name, "-n", "100")
    assert sac.ssh_calls() - before == 1
    assert "stub agent ready: --model opus" in r.stdout

    # A second start is refused while the job lives: exit 1 whenever the agent
    # is named, with --json too; --all alone leaves it be (everything runs).
    r = sac("agent", "start", path)
    assert r.returncode == 1 and "already running" in r.stderr
    r = sac("agent", "start", path, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)[0]["already"] is True
    r = sac("agent", "start", "--all", "--json")
    assert r.returncode == 0 and [o["name"] for o in json.loads(r.stdout)] == [name]
    r = sac("agent", "start", "--all", name)
    assert r.returncode == 1 and "already running" in r.stderr

    before = sac.ssh_calls()
    r = sac("agent", "stop", name)
    assert r.returncode == 0, r.stderr
    assert sac.ssh_calls() - before == 1
    assert "cancelled job" in r.stdout
    cluster.wait_job_gone(st["job_id"])
    assert cluster.run(["squeue", "-h", "-n", f"sac-{name}"]).stdout.strip() == ""
    r = sac("agent", "stop", name)
    assert r.returncode == 0 and "nothing to stop" in r.stdout
    assert sac.status(name)["state"] == "ABSENT"
    # Logs stay on the cluster: the job log tail once the session is gone.
    r = sac("agent", "logs", name)
    assert r.returncode == 0 and "no live session" in r.stderr and "agent " in r.stdout
    # ... with the last screen the stop kept.
    head = f"[sac] agent {name}: its last screen before sac agent stop:"
    assert head in r.stdout and "stub agent ready: --model" in r.stdout.split(head)[-1]


def test_status_list_one_round_trip(cluster, sac, stub):
    a, b = unique("lst"), unique("lst")
    for n in (a, b):
        assert sac("agent", "start", sac.agent_yaml(n, agent_spec(cluster, stub, n))).returncode == 0
    wait_running(cluster, sac, a)
    wait_running(cluster, sac, b)
    before = sac.ssh_calls()
    rows = sac.json("list")
    assert sac.ssh_calls() - before == 1, "list must open one connection per host"
    by = {r["name"]: r for r in rows}
    for n in (a, b):
        assert by[n]["state"] == "RUNNING" and by[n]["session_alive"] is True
        assert set(by[n]) >= {"name", "runtime", "host", "job_id", "state", "node", "session_alive", "reservation"}
    before = sac.ssh_calls()
    r = sac("agent", "stop", "--all")
    assert r.returncode == 0 and sac.ssh_calls() - before == 1
    assert sac.json("list") == []


@pytest.mark.parametrize("term", [None, "xterm-unknown-here"], ids=["laptop-term", "term-unknown-on-cluster"])
def test_attach_in_a_real_pty(cluster, sac, stub, tmp_path, term):
    """A terminal type the cluster does not know (kitty's, ghostty's) made tmux
    refuse to attach: it is attached as xterm-256color, and says so."""
    name = unique("att")
    assert sac("agent", "start", sac.agent_yaml(name, agent_spec(cluster, stub, name))).returncode == 0
    wait_running(cluster, sac, name)
    screen = attach_in_a_pty(cluster, sac, name, tmp_path, term)
    assert ("is unknown on" in screen) == bool(term), screen
    assert sac.status(name)["session_alive"] is True


def test_start_force_replaces_the_running_job_with_exactly_one_new_one(cluster, sac, stub):
    name = unique("frc")
    path = sac.agent_yaml(name, agent_spec(cluster, stub, name))
    assert sac("agent", "start", path).returncode == 0
    old = wait_running(cluster, sac, name)["job_id"]
    before = sac.ssh_calls()
    r = sac("agent", "start", "--force", path)
    assert r.returncode == 0, r.stderr
    assert sac.ssh_calls() - before == 1
    assert f"cancelled job(s) {old}" in r.stdout, r.stdout
    new = r.stdout.split("submitted job ")[1].split()[0]
    assert new != old
    wait_running(cluster, sac, name, job=new)
    cluster.wait_job_gone(old)
    out = cluster.run(["squeue", "-h", "-n", f"sac-{name}", "-o", "%i"]).stdout.split()
    assert out == [new]
    cluster.wait_for(lambda: len(records(cluster, name)) == 2, 20, "the agent started again")
    assert sac("agent", "stop", name).returncode == 0
    cluster.wait_job_gone(new)


def test_the_login_shells_sbatch_and_squeue_settings_do_not_change_sacs_jobs(cluster, sac, stub):
    """SBATCH_* override a batch script's directives and SQUEUE_* filter squeue:
    set in the login profile, they must not rename the job, change its time
    limit or make a cancelled job look alive."""
    name = unique("envs")
    bashrc = cluster.home / ".bashrc"
    assert not bashrc.exists()
    bashrc.write_text("export SBATCH_JOB_NAME=renamed SBATCH_TIMELIMIT=2 SBATCH_OPEN_MODE=truncate "
                      "SQUEUE_STATES=all\n")
    os.chown(bashrc, *_ids(cluster))
    try:
        path = sac.agent_yaml(name, agent_spec(cluster, stub, name))
        assert sac("agent", "start", path).returncode == 0
        job = wait_running(cluster, sac, name)["job_id"]
        assert cluster.job_field(job, "%j|%l") == f"sac-{name}|30:00"
        assert sac("agent", "stop", name).returncode == 0
        cluster.wait_job_gone(job)
        assert sac.status(name)["state"] == "ABSENT"
        r = sac("agent", "start", path)
        assert r.returncode == 0, r.stderr
        new = r.stdout.split("submitted job ")[1].split()[0]
        wait_running(cluster, sac, name, job=new)
        assert sac("agent", "stop", name).returncode == 0
        cluster.wait_job_gone(new)
    finally:
        bashrc.unlink()


def test_a_csh_login_shell_on_the_cluster_changes_nothing(cluster, sac, stub, tmp_path):
    """sshd hands the remote command to the user's login shell: with tcsh
    (which cannot hold a newline inside quotes), start, status, logs, attach
    and stop work as with bash."""
    import pwd

    was = pwd.getpwnam(cluster.user).pw_shell
    tcsh = cluster.run(["sh", "-c", "command -v tcsh"]).stdout.strip()
    assert tcsh, "tcsh is not installed (cluster/up.sh installs it)"
    name = unique("csh")
    cluster.run(["usermod", "-s", tcsh, cluster.user], check=True)
    try:
        assert cluster.ssh_run("echo $shell").stdout.strip().endswith("tcsh")
        assert sac("agent", "start", sac.agent_yaml(name, agent_spec(cluster, stub, name))).returncode == 0
        wait_running(cluster, sac, name)
        assert cluster.wait_for(lambda: pane_has(sac, name, "stub agent ready"), 10, "banner in the pane")
        attach_in_a_pty(cluster, sac, name, tmp_path)
        assert sac("agent", "stop", name).returncode == 0
    finally:
        cluster.run(["usermod", "-s", was, cluster.user], check=True)


def test_resubmit_exactly_one_successor_and_status_follows(cluster, sac, stub):
    name = unique("rsb")
    assert sac("agent", "start", sac.agent_yaml(name, agent_spec(cluster, stub, name))).returncode == 0
    first = wait_running(cluster, sac, name)["job_id"]
    cluster.scancel(first, signal="USR1", batch=True)
    cluster.scancel(first, signal="USR1", batch=True)

    def chain():
        out = cluster.run(["squeue", "-h", "-n", f"sac-{name}", "-o", "%i %T"]).stdout.split("\n")
        return [ln.split() for ln in out if ln.strip()]
    cluster.wait_for(lambda: len(chain()) == 2, 10, "a successor in the queue")
    time.sleep(2)  # a second (duplicate) successor would show up within this time
    jobs = chain()
    assert len(jobs) == 2, jobs
    successor = next(j for j, s in jobs if j != first)
    assert dict(jobs)[successor] == "PENDING"
    assert sac.status(name)["session_alive"] is True, "the job keeps running after the trap"
    cluster.scancel(first)  # as walltime would end it
    st = wait_running(cluster, sac, name, job=successor)
    assert st["job_id"] == successor
    cluster.wait_for(lambda: len(records(cluster, name)) == 2, 20, "the agent started again")
    assert records(cluster, name)[1]["cwd"] == records(cluster, name)[0]["cwd"]
    reg = json.loads((sac.home / "state.json").read_text())
    assert reg["agents"][name]["job_id"] == successor
    assert sac("agent", "stop", name).returncode == 0
    cluster.wait_job_gone(successor)


def test_an_agent_that_quits_after_the_walltime_signal_ends_its_chain(cluster, sac, stub):
    """The successor queued by USR1 is cancelled when the agent ends by itself
    (a tenant that ends by itself is not relaunched either)."""
    name = unique("qt")
    assert sac("agent", "start", sac.agent_yaml(name, agent_spec(cluster, stub, name))).returncode == 0
    first = wait_running(cluster, sac, name)["job_id"]
    cluster.scancel(first, signal="USR1", batch=True)

    def chain():
        return cluster.run(["squeue", "-h", "-n", f"sac-{name}", "-o", "%i"]).stdout.split()
    cluster.wait_for(lambda: len(chain()) == 2, 10, "a successor in the queue")
    cluster.ssh_run(f"tmux -L sac-{name} send-keys -t '=sac-{name}:' quit Enter", check=True)
    cluster.wait_for(lambda: chain() == [], 30, "the job and its successor gone")
    st = sac.status(name)
    assert (st["state"], st["session_alive"]) == ("ABSENT", False)
    assert len(records(cluster, name)) == 1, "started once, never again"


def _fake_slurm_bin(cluster, name: str, mode: str) -> str:
    """A directory with an sbatch that fails once (mode 'fail-once') or fails
    after submitting (mode 'lie-once'), and the real squeue: set by the hook as
    SAC_SLURM_BIN, with PATH hardened so that no sbatch is on it."""
    base = cluster.home / "fakebin" / name
    base.mkdir(parents=True)
    counter = base / "calls"
    real = "/usr/bin/sbatch"
    if mode == "fail-once":
        body = (f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}\n'
                f'if [ "$n" = 0 ]; then echo "sbatch: error: Slurm temporarily unable to accept job" >&2; exit 1; fi\n'
                f'exec {real} "$@"\n')
    else:
        body = (f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}\n'
                f'{real} "$@" >/dev/null || exit 1\n'
                f'if [ "$n" = 0 ]; then echo "sbatch: error: Socket timed out" >&2; exit 1; fi\n'
                f'exec echo 999999\n')
    (base / "sbatch").write_text("#!/bin/bash\n" + body)
    (base / "sbatch").chmod(0o755)
    for tool in ("squeue", "scancel", "sinfo", "srun"):
        (base / tool).symlink_to(f"/usr/bin/{tool}")
    # A hardened PATH: every command of /usr/bin but the SLURM ones.
    hard = cluster.home / "hardened" / name
    hard.mkdir(parents=True)
    for entry in os.listdir("/usr/bin"):
        if entry.startswith(("sbatch", "squeue", "scancel", "srun", "salloc", "sinfo", "scontrol", "sacct")):
            continue
        (hard / entry).symlink_to(f"/usr/bin/{entry}")
    subprocess.run(["chown", "-R", cluster.user, str(cluster.home / "fakebin"), str(cluster.home / "hardened")])
    return hook_file(cluster, name, f"export SAC_SLURM_BIN={base}\nexport PATH={hard}\n")


@pytest.mark.parametrize("mode", ["fail-once", "lie-once"])
def test_trap_with_hardened_path_and_flaky_sbatch(cluster, sac, stub, mode):
    name = unique(mode.split("-")[0])
    hook = _fake_slurm_bin(cluster, name, mode)
    spec = agent_spec(cluster, stub, name, slurm={"hooks": {"pre_agent": hook}})
    assert sac("agent", "start", sac.agent_yaml(name, spec)).returncode == 0
    first = wait_running(cluster, sac, name)["job_id"]
    cluster.scancel(first, signal="USR1", batch=True)

    def others():
        out = cluster.run(["squeue", "-h", "-n", f"sac-{name}", "-o", "%i"]).stdout.split()
        return [j for j in out if j != first]
    cluster.wait_for(lambda: others(), 15, "a successor despite the failing sbatch")
    time.sleep(3)  # a retry that submitted twice would show here
    assert len(others()) == 1, others()
    log = (cluster.home / ".scitex/agent-container/agents" / name / f"job-{first}.log").read_text()
    assert "sbatch failed (attempt 1" in log
    calls = int((cluster.home / "fakebin" / name / "calls").read_text())
    assert calls == (2 if mode == "fail-once" else 1)
    assert sac("agent", "stop", name).returncode == 0


def test_real_walltime_chain_continues(cluster, sac, stub):
    """No signal sent by hand: a 1-minute walltime with a 30 s lead."""
    name = unique("wall")
    spec = agent_spec(cluster, stub, name, slurm={"time_limit": "1", "resubmit_before": 30})
    assert sac("agent", "start", sac.agent_yaml(name, spec)).returncode == 0
    first = wait_running(cluster, sac, name)["job_id"]
    st = cluster.wait_for(lambda: (lambda s: s if s["state"] == "RUNNING" and s["job_id"] != first
                                   and s["session_alive"] else None)(sac.status(name)),
                          150, "the successor running the agent after walltime")
    assert st["job_id"] != first
    assert len(records(cluster, name)) >= 2
    assert sac("agent", "stop", name).returncode == 0


def test_errors_unreachable_missing_hook_unknown(cluster, sac, stub):
    name = unique("err")
    spec = agent_spec(cluster, stub, name, slurm={"host": "no-such-host.invalid"})
    r = sac("agent", "start", sac.agent_yaml(name, spec))
    assert r.returncode == 3
    assert "no-such-host.invalid" in r.stderr and "Traceback" not in r.stderr
    assert not (sac.home / "state.json").exists() or name not in (sac.home / "state.json").read_text()

    name = unique("hook")
    spec = agent_spec(cluster, stub, name, slurm={"hooks": {"pre_agent": "~/no/such/hook.sh"}})
    r = sac("agent", "start", sac.agent_yaml(name, spec))
    assert r.returncode == 1
    assert "pre_agent hook not found" in r.stderr and "no/such/hook.sh" in r.stderr
    assert cluster.run(["squeue", "-h", "-n", f"sac-{name}"]).stdout.strip() == ""

    r = sac("agent", "status", "never-heard-of-it")
    assert r.returncode == 2 and "unknown agent 'never-heard-of-it'" in r.stderr


def test_localhost_runs_without_ssh(cluster, sac, stub, tmp_path):
    name = unique("loc")
    remote = tmp_path / "remote-home"
    spec = {"runtime": "slurm", "model": "opus", "claude": {"command": "/bin/sleep", "flags": []},
            "slurm": {"host": "localhost", "time_limit": "10", "resubmit_before": 60}}
    # sleep --model opus fails at once: use a wrapper that ignores its arguments.
    wrapper = tmp_path / "agent.sh"
    wrapper.write_text("#!/bin/bash\necho local agent \"$@\"\nexec sleep 300\n")
    wrapper.chmod(0o755)
    spec["claude"]["command"] = str(wrapper)
    env = {"SAC_REMOTE_HOME": str(remote)}
    before = sac.ssh_calls()
    r = sac("agent", "start", sac.agent_yaml(name, spec), env=env)
    assert r.returncode == 0, r.stderr
    cluster.wait_for(lambda: (lambda s: s["state"] == "RUNNING" and s["session_alive"])(
        json.loads(sac("agent", "status", name, "--json", env=env).stdout)), 30, "local agent running")
    assert cluster.wait_for(lambda: "local agent --model opus" in sac("agent", "logs", name, env=env).stdout, 10,
                            "local agent's pane")
    assert sac.ssh_calls() == before
    assert sac("agent", "stop", name, env=env).returncode == 0
